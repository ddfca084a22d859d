package standin

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
)

// Options tune a Server. The zero value serves on a fresh 127.0.0.1 port.
type Options struct {
	// Addr is the address to listen on. Empty means "127.0.0.1:0" (a free
	// port); pass a stopped server's Addr to restart it where clients
	// expect it.
	Addr string
	// SegmentSize is the backing log's segment size; zero means the log's
	// default. Tests use small segments to keep many logs cheap.
	SegmentSize int64
	// MaxAppendSize refuses appends whose events' data, custom metadata
	// and types add up to more bytes, as KurrentDB's MaxAppendSize does.
	// Zero means no limit.
	MaxAppendSize int
}

// Server is a running stand-in. Its methods are safe for concurrent use.
type Server struct {
	log     *filestore.Store
	lis     net.Listener
	grpc    *grpc.Server
	started time.Time
	served  chan struct{}

	mu    sync.Mutex
	calls map[string]int

	closeOnce sync.Once
	closeErr  error
}

// Start opens (creating if needed) the log in dir and serves it.
func Start(dir string, opts Options) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	log, err := filestore.Open(dir, filestore.Options{SegmentSize: opts.SegmentSize})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("standin: listen: %w", err)
	}
	s := &Server{log: log, lis: lis, started: time.Now(), served: make(chan struct{}), calls: make(map[string]int)}
	s.grpc = grpc.NewServer(
		// The client pings every 10 s even without streams; the default
		// policy (5 min) answers that with GOAWAY too_many_pings.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		// One event of up to 1 MiB (eventstore.MaxRecordSize) plus framing
		// per message; the client accepts 17 MiB.
		grpc.MaxRecvMsgSize(17<<20),
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			s.count(info.FullMethod)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			s.count(info.FullMethod)
			return h(srv, ss)
		}),
	)
	api.RegisterStreamsServer(s.grpc, &streams{s: s, maxAppend: opts.MaxAppendSize})
	go func() {
		defer close(s.served)
		_ = s.grpc.Serve(lis)
	}()
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// URL is a connection string for the server: plaintext, and with the
// client's keepalive pings off (trap 4 of DEPENDENCIES.md §2.3).
func (s *Server) URL() string {
	return "esdb://" + s.Addr() + "?tls=false&keepAliveInterval=-1"
}

// Log is the backing log, for tests that look behind the server.
func (s *Server) Log() eventstore.Store { return s.log }

// Calls returns how many times each RPC was called, by full method name
// (for example "/event_store.client.streams.Streams/Append").
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

func (s *Server) count(method string) {
	s.mu.Lock()
	s.calls[method]++
	s.mu.Unlock()
}

// Close stops serving at once (open RPCs fail on the client side as after
// a crash of the node), then closes the log. It is safe to call more than
// once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.grpc.Stop()
		<-s.served
		s.closeErr = s.log.Close()
	})
	return s.closeErr
}

// Positions of $all. The record at log position p sits at commitOf(p);
// a system event sits at sysPosOf(p) before every record with hasSys(p),
// and one more at sys0Pos, before everything.
const (
	sys0Pos   = 500
	posBase   = 1000
	posStride = 256
	sysGap    = 100 // less than posStride - 96, so sysPosOf(p) > commitOf(p-1)
	sysEvery  = 3

	sysStream = "$stats-standin"
	sysType   = "$statsCollected"
)

func commitOf(p uint64) uint64 { return posBase + posStride*p + (7919*p)%97 }
func sysPosOf(p uint64) uint64 { return commitOf(p) - sysGap }
func hasSys(p uint64) bool     { return p%sysEvery == 1 }

// elem is one event of $all: the record at log position p, or (sys) the
// system event before it; {0, true} is the first system event.
type elem struct {
	p   uint64
	sys bool
}

func (e elem) pos() uint64 {
	switch {
	case e.p == 0:
		return sys0Pos
	case e.sys:
		return sysPosOf(e.p)
	}
	return commitOf(e.p)
}

func (e elem) next() elem {
	if e.sys && e.p > 0 {
		return elem{e.p, false}
	}
	return elem{e.p + 1, hasSys(e.p + 1)}
}

// seek returns the first event of $all at or after pos (which may not
// exist yet).
func seek(pos uint64) elem {
	if pos <= sys0Pos {
		return elem{0, true}
	}
	p := uint64(1)
	if pos > posBase+2*posStride {
		p = (pos-posBase)/posStride - 1
	}
	for commitOf(p) < pos {
		p++
	}
	for p > 1 && commitOf(p-1) >= pos {
		p--
	}
	if hasSys(p) && sysPosOf(p) >= pos {
		return elem{p, true}
	}
	return elem{p, false}
}

// streams implements the Streams service.
type streams struct {
	api.UnimplementedStreamsServer
	s         *Server
	maxAppend int
}

// Append implements the client-streaming append: options first, then one
// proposed message per event until EOF.
func (st *streams) Append(srv api.Streams_AppendServer) error {
	ctx := srv.Context()
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "standin: append must start with options")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	var exp eventstore.Expected
	switch o := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		if o.Revision > math.MaxInt64 {
			return status.Errorf(codes.InvalidArgument, "standin: expected revision %d out of range", o.Revision)
		}
		exp = eventstore.Exact(o.Revision)
	case *api.AppendReq_Options_NoStream:
		exp = eventstore.NoStream
	case *api.AppendReq_Options_StreamExists:
		exp = eventstore.StreamExists
	default:
		exp = eventstore.Any
	}
	var recs []eventstore.Proposed
	size := 0
	for {
		req, err := srv.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		m := req.GetProposedMessage()
		if m == nil {
			return status.Error(codes.InvalidArgument, "standin: expected a proposed message")
		}
		id, err := uuidFromProto(m.GetId())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "standin: event id: %v", err)
		}
		md, err := decodeMetadata(m.GetCustomMetadata())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "standin: custom metadata: %v", err)
		}
		typ := m.GetMetadata()["type"]
		size += len(m.GetData()) + len(m.GetCustomMetadata()) + len(typ)
		recs = append(recs, eventstore.Proposed{ID: id, Type: typ, Data: m.GetData(), Metadata: md})
	}
	if st.maxAppend > 0 && size > st.maxAppend {
		return status.Errorf(codes.InvalidArgument, "Maximum Append Size of %d Exceeded.", st.maxAppend)
	}
	if err := eventstore.ValidateStreamName(stream); err != nil {
		return status.Errorf(codes.InvalidArgument, "standin: only <category>-<id> streams are stored: %v", err)
	}
	res, err := st.s.log.Append(ctx, stream, exp, recs)
	var wrong *eventstore.WrongExpectedVersionError
	switch {
	case err == nil:
		pos := commitOf(res.Position)
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
			CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: res.Revision},
			PositionOption:        &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{CommitPosition: pos, PreparePosition: pos}},
		}}})
	case errors.As(err, &wrong):
		return srv.SendAndClose(wrongExpected(exp, wrong.Actual))
	case errors.Is(err, eventstore.ErrIDConflict):
		// KurrentDB reports a partial overlap as a wrong expected version;
		// the backing log also refuses an ID used in another stream.
		last, err := st.s.log.ReadStream(ctx, stream, eventstore.Backwards, eventstore.End, 1)
		if err != nil {
			return toStatus(err)
		}
		actual := eventstore.NoRevision
		if len(last) == 1 {
			actual = int64(last[0].Revision)
		}
		return srv.SendAndClose(wrongExpected(exp, actual))
	default:
		return toStatus(err)
	}
}

func wrongExpected(exp eventstore.Expected, actual int64) *api.AppendResp {
	w := &api.AppendResp_WrongExpectedVersion{}
	if actual < 0 {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(actual)}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(actual)}
	}
	switch {
	case exp == eventstore.Any:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
	case exp == eventstore.NoStream:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case exp == eventstore.StreamExists:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(exp)}
	}
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// toStatus maps a log error to the gRPC status KurrentDB would give.
func toStatus(err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, eventstore.ErrInvalidRecord), errors.Is(err, eventstore.ErrInvalidData),
		errors.Is(err, eventstore.ErrInvalidStream), errors.Is(err, eventstore.ErrInvalidExpected),
		errors.Is(err, eventstore.ErrRecordTooLarge):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, eventstore.ErrStorageFull), errors.Is(err, eventstore.ErrClosed):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// Read serves plain reads (of a stream or of $all) and catch-up
// subscriptions to $all.
func (st *streams) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "standin: read without options")
	}
	filter, err := newFilter(o.GetFilter())
	if err != nil {
		return err
	}
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	switch so := o.GetStreamOption().(type) {
	case *api.ReadReq_Options_Stream:
		if o.GetSubscription() != nil {
			return status.Error(codes.Unimplemented, "standin: stream subscriptions are not implemented")
		}
		return st.readStream(srv, so.Stream, backwards, o.GetCount())
	case *api.ReadReq_Options_All:
		if backwards {
			return status.Error(codes.Unimplemented, "standin: backwards $all reads are not implemented")
		}
		if o.GetSubscription() != nil {
			return st.subscribeAll(srv, so.All, filter)
		}
		return st.readAll(srv, so.All, o.GetCount(), filter)
	}
	return status.Error(codes.InvalidArgument, "standin: read of neither a stream nor $all")
}

func (st *streams) readStream(srv api.Streams_ReadServer, so *api.ReadReq_Options_StreamOptions, backwards bool, count uint64) error {
	ctx := srv.Context()
	name := string(so.GetStreamIdentifier().GetStreamName())
	notFound := func() error {
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
		}}})
	}
	if eventstore.ValidateStreamName(name) != nil {
		return notFound() // $ streams, $$ metadata streams: nothing stored
	}
	limit := int(min(count, uint64(math.MaxInt32)))
	dir, from := eventstore.Forwards, uint64(0)
	if backwards {
		dir = eventstore.Backwards
	}
	switch r := so.GetRevisionOption().(type) {
	case *api.ReadReq_Options_StreamOptions_Revision:
		from = r.Revision
	case *api.ReadReq_Options_StreamOptions_End:
		from = eventstore.End
	}
	var recs []eventstore.Record
	if !(dir == eventstore.Forwards && from == eventstore.End) {
		var err error
		if recs, err = st.s.log.ReadStream(ctx, name, dir, from, limit); err != nil {
			return toStatus(err)
		}
	}
	if len(recs) == 0 {
		last, err := st.s.log.ReadStream(ctx, name, eventstore.Backwards, eventstore.End, 1)
		if err != nil {
			return toStatus(err)
		}
		if len(last) == 0 {
			return notFound()
		}
	}
	for _, r := range recs {
		if err := srv.Send(eventResp(recordEvent(r))); err != nil {
			return err
		}
	}
	return nil
}

func (st *streams) readAll(srv api.Streams_ReadServer, ao *api.ReadReq_Options_AllOptions, count uint64, f *filter) error {
	var e elem
	switch a := ao.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_End:
		return nil
	case *api.ReadReq_Options_AllOptions_Position:
		e = seek(a.Position.GetCommitPosition())
	default:
		e = elem{0, true}
	}
	c := cursor{log: st.s.log, started: st.s.started}
	for sent := uint64(0); sent < count; e = e.next() {
		ev, ok, err := c.event(srv.Context(), e)
		if err != nil {
			return toStatus(err)
		}
		if !ok {
			return nil
		}
		if !f.match(ev) {
			continue
		}
		if err := srv.Send(eventResp(ev)); err != nil {
			return err
		}
		sent++
	}
	return nil
}

// subscribeAll serves a catch-up subscription to $all: confirmation, the
// events after the start (exclusive), CaughtUp once it reaches what was
// the end when it started, then live events until the client goes away.
func (st *streams) subscribeAll(srv api.Streams_ReadServer, ao *api.ReadReq_Options_AllOptions, f *filter) error {
	ctx := srv.Context()
	log := st.s.log
	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}); err != nil {
		return err
	}
	head, err := log.Head(ctx)
	if err != nil {
		return toStatus(err)
	}
	var e elem // the first event to send
	switch a := ao.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_End:
		e = elem{head, false}.next()
		if head == 0 {
			e = elem{0, true}.next()
		}
	case *api.ReadReq_Options_AllOptions_Position:
		e = seek(a.Position.GetCommitPosition() + 1)
	default:
		e = elem{0, true}
	}
	scanned := 0
	emit := func(ev *api.ReadResp_ReadEvent_RecordedEvent) error {
		if f.match(ev) {
			if err := srv.Send(eventResp(ev)); err != nil {
				return err
			}
		}
		scanned++
		if f != nil && scanned%f.interval == 0 {
			return srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
				CommitPosition: ev.CommitPosition, PreparePosition: ev.PreparePosition,
			}}})
		}
		return nil
	}
	caughtUp := func() error {
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}})
	}
	if e.p == 0 {
		if err := emit(systemEvent(e, st.s.started)); err != nil {
			return err
		}
		e = e.next()
	}
	pending := head >= e.p // records before the live part remain
	if !pending {
		if err := caughtUp(); err != nil {
			return err
		}
	}
	sub, err := log.Subscribe(ctx, e.p-1)
	if err != nil {
		return toStatus(err)
	}
	defer sub.Close()
	for {
		r, err := sub.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return toStatus(err)
		}
		if hasSys(r.Position) && (r.Position != e.p || e.sys) {
			if err := emit(systemEvent(elem{r.Position, true}, r.Committed)); err != nil {
				return err
			}
		}
		if err := emit(recordEvent(r)); err != nil {
			return err
		}
		if pending && r.Position >= head {
			pending = false
			if err := caughtUp(); err != nil {
				return err
			}
		}
	}
}

// cursor reads the events of $all in order, fetching records in pages.
type cursor struct {
	log     *filestore.Store
	started time.Time
	buf     []eventstore.Record
}

// event returns the event e, or false if the log does not hold it yet.
func (c *cursor) event(ctx context.Context, e elem) (*api.ReadResp_ReadEvent_RecordedEvent, bool, error) {
	if e.p == 0 {
		return systemEvent(e, c.started), true, nil
	}
	if len(c.buf) == 0 || e.p < c.buf[0].Position || e.p > c.buf[len(c.buf)-1].Position {
		recs, err := c.log.ReadAll(ctx, e.p, 256)
		if err != nil {
			return nil, false, err
		}
		c.buf = recs
	}
	if len(c.buf) == 0 || c.buf[0].Position > e.p {
		return nil, false, nil
	}
	r := c.buf[e.p-c.buf[0].Position]
	if e.sys {
		return systemEvent(e, r.Committed), true, nil
	}
	return recordEvent(r), true, nil
}

func recordEvent(r eventstore.Record) *api.ReadResp_ReadEvent_RecordedEvent {
	pos := commitOf(r.Position)
	return &api.ReadResp_ReadEvent_RecordedEvent{
		Id:               uuidToProto(r.ID),
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.Stream)},
		StreamRevision:   r.Revision,
		PreparePosition:  pos,
		CommitPosition:   pos,
		Metadata:         systemMetadata(r.Type, r.Committed),
		CustomMetadata:   encodeMetadata(r.Metadata),
		Data:             r.Data,
	}
}

var sysNamespace = uuid.MustParse("8d3c6f5e-5a8b-4d62-9a57-0c7c1d2b9e11")

// systemEvent is the synthetic system event e, with a stable ID.
func systemEvent(e elem, at time.Time) *api.ReadResp_ReadEvent_RecordedEvent {
	pos := e.pos()
	rev := uint64(0)
	if e.p > 0 {
		rev = 1 + (e.p-1)/sysEvery
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], pos)
	return &api.ReadResp_ReadEvent_RecordedEvent{
		Id:               uuidToProto(uuid.NewSHA1(sysNamespace, b[:])),
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(sysStream)},
		StreamRevision:   rev,
		PreparePosition:  pos,
		CommitPosition:   pos,
		Metadata:         systemMetadata(sysType, at),
		Data:             []byte(`{}`),
	}
}

// systemMetadata is the metadata every recorded event must carry; the
// client log.Fatalf's without "created" (.NET ticks since the Unix epoch).
func systemMetadata(typ string, created time.Time) map[string]string {
	return map[string]string{
		"type":         typ,
		"content-type": "application/json",
		"created":      strconv.FormatInt(created.UnixNano()/100, 10),
	}
}

func eventResp(ev *api.ReadResp_ReadEvent_RecordedEvent) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event:    ev,
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: ev.CommitPosition},
	}}}
}

// filter is a subscription's server-side filter; nil passes everything.
type filter struct {
	onType   bool
	prefixes []string
	re       *regexp.Regexp
	interval int // checkpoint every interval scanned events
}

func newFilter(o *api.ReadReq_Options_FilterOptions) (*filter, error) {
	if o == nil {
		return nil, nil
	}
	f := &filter{}
	var ex *api.ReadReq_Options_FilterOptions_Expression
	switch x := o.GetFilter().(type) {
	case *api.ReadReq_Options_FilterOptions_EventType:
		f.onType, ex = true, x.EventType
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		ex = x.StreamIdentifier
	default:
		return nil, status.Error(codes.InvalidArgument, "standin: filter on neither stream nor event type")
	}
	f.prefixes = ex.GetPrefix()
	if ex.GetRegex() != "" {
		re, err := regexp.Compile(ex.GetRegex())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "standin: filter regex: %v", err)
		}
		f.re = re
	}
	window := 32
	if m, ok := o.GetWindow().(*api.ReadReq_Options_FilterOptions_Max); ok && m.Max > 0 {
		window = int(m.Max)
	}
	f.interval = window * int(max(o.GetCheckpointIntervalMultiplier(), 1))
	return f, nil
}

func (f *filter) match(ev *api.ReadResp_ReadEvent_RecordedEvent) bool {
	if f == nil {
		return true
	}
	s := string(ev.GetStreamIdentifier().GetStreamName())
	if f.onType {
		s = ev.GetMetadata()["type"]
	}
	if f.re != nil {
		return f.re.MatchString(s)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// wireMetadata is the adapter's custom metadata: KurrentDB's own keys for
// correlation and causation, plus the acting user and the decision time.
// It mirrors the adapter's encoding, which the adapter's tests check
// against this server.
type wireMetadata struct {
	CorrelationID uuid.UUID `json:"$correlationId,omitzero"`
	CausationID   uuid.UUID `json:"$causationId,omitzero"`
	User          string    `json:"user,omitempty"`
	Time          time.Time `json:"time,omitzero"`
}

func decodeMetadata(b []byte) (eventstore.Metadata, error) {
	if len(b) == 0 {
		return eventstore.Metadata{}, nil
	}
	var w wireMetadata
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return eventstore.Metadata{}, err
	}
	return eventstore.Metadata{CorrelationID: w.CorrelationID, CausationID: w.CausationID, User: w.User, Time: w.Time}, nil
}

func encodeMetadata(m eventstore.Metadata) []byte {
	b, _ := json.Marshal(wireMetadata{CorrelationID: m.CorrelationID, CausationID: m.CausationID, User: m.User, Time: m.Time})
	return b
}

func uuidToProto(id uuid.UUID) *shared.UUID {
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

func uuidFromProto(u *shared.UUID) (uuid.UUID, error) {
	if s := u.GetStructured(); s != nil {
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[:8], uint64(s.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(id[8:], uint64(s.GetLeastSignificantBits()))
		return id, nil
	}
	return uuid.Parse(u.GetString_())
}

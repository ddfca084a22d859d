package filestore

import (
	"fmt"
	"path/filepath"
	"sync"
)

// indexer writes the index files of sealed segments in the background, one
// at a time, so that neither appends nor opening the log wait for them.
// Close lets it finish what is queued (normally nothing, or the segment
// sealed last): the next open is fast only if the files are there.
type indexer struct {
	s       *Store
	mu      sync.Mutex
	queue   []indexJob
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool
}

type indexJob struct {
	seg *segment
	ix  *segIndex // built while opening the log; nil: build it from the segment
}

// add queues a sealed segment. Jobs queued before start (while the log is
// loaded) wait for it.
func (x *indexer) add(seg *segment, ix *segIndex) {
	x.mu.Lock()
	x.queue = append(x.queue, indexJob{seg, ix})
	if x.wake == nil {
		x.wake = make(chan struct{}, 1)
	}
	x.mu.Unlock()
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// start runs the indexer for a store opened for writing.
func (x *indexer) start(s *Store) {
	x.mu.Lock()
	x.s = s
	if x.wake == nil {
		x.wake = make(chan struct{}, 1)
	}
	x.stop = make(chan struct{})
	x.done = make(chan struct{})
	x.started = true
	x.mu.Unlock()
	go x.run()
}

// wait lets the indexer finish the queue and stop (after the writer has
// stopped, so that nothing more is queued).
func (x *indexer) wait() {
	if !x.started {
		return
	}
	close(x.stop)
	<-x.done
}

func (x *indexer) run() {
	defer close(x.done)
	x.s.buildFilter(nil, idTable{})
	for {
		x.mu.Lock()
		var job indexJob
		ok := len(x.queue) > 0
		if ok {
			job = x.queue[0]
			x.queue = x.queue[1:]
		}
		x.mu.Unlock()
		if ok {
			x.s.indexSealed(job)
			continue
		}
		select {
		case <-x.wake:
		case <-x.stop:
			return
		}
	}
}

// indexSealed writes the index file of a sealed segment, building the index
// from the segment first if needed; a segment sealed by the writer then
// trades the map its appends filled for the (smaller) table. A failure only
// costs the next open the time to scan the segment, so it is reported, not
// returned.
func (s *Store) indexSealed(job indexJob) {
	seg, ix := job.seg, job.ix
	if ix == nil {
		s.mu.RLock()
		size, count := seg.size, len(seg.offsets)
		s.mu.RUnlock()
		var err error
		ix, err = buildSegIndex(seg.f, seg.path, seg.first, size)
		if err == nil && ix.count != count {
			err = fmt.Errorf("read %d records, the index holds %d", ix.count, count)
		}
		if err != nil {
			s.opts.Logger.Warn("eventstore: index of a sealed segment not built", "file", seg.path, "err", err)
			return
		}
		s.buildFilter(seg, ix.ids)
	}
	if ix.count == 0 {
		return // a sealed segment without records is refused on open anyway
	}
	path := filepath.Join(s.dir, indexName(seg.first))
	if err := ix.writeFile(path); err != nil {
		s.opts.Logger.Warn("eventstore: index file not written (opening the log will scan the segment instead)", "file", path, "err", err)
	}
}

// buildFilter installs tab as seg's ID table (if seg is not nil) and adds it
// to the ID filter, first building the filter from every table if there is
// none yet or it is getting full. A filter is built outside the lock:
// tables change only here (after the log is loaded), so they stay as read.
func (s *Store) buildFilter(seg *segment, tab idTable) {
	s.mu.RLock()
	f := s.filter
	var tabs []idTable
	total := tab.len()
	for _, sg := range s.segments {
		if sg != seg && sg.tab.len() > 0 {
			tabs = append(tabs, sg.tab)
			total += sg.tab.len()
		}
	}
	s.mu.RUnlock()
	fresh := f == nil || f.full(tab.len())
	if fresh {
		f = newIDFilter(total)
		for i := range tabs {
			f.addTable(&tabs[i])
		}
		f.addTable(&tab)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !fresh {
		f.addTable(&tab)
	}
	s.filter = f
	if seg != nil {
		// The IDs now live in one table: drop the map the appends filled.
		seg.tab, seg.ids = tab, nil
	}
}

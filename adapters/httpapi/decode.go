package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes bounds a request body (PROTOCOL.md); a larger one is
// answered 413 too_large without being read further.
const MaxBodyBytes = 64 << 10

// maxDepth bounds the nesting of a request body. Every body is one flat
// object, so anything deeper is refused before encoding/json sees it.
const maxDepth = 4

// payloadError is a request the API refuses as malformed: 400
// invalid_payload (or Status, when set) with Msg as the message.
type payloadError struct {
	Status int
	Code   string
	Msg    string
}

func (e *payloadError) Error() string { return "httpapi: " + e.Msg }

func badPayload(format string, args ...any) error {
	return &payloadError{Status: http.StatusBadRequest, Code: codeInvalidPayload, Msg: fmt.Sprintf(format, args...)}
}

// decodeBody reads r's body into dst, a pointer to a struct whose fields
// all have json tags, and enforces what encoding/json alone does not
// (RELIABILITY.md §3.2):
//
//   - at most MaxBodyBytes (413 too_large);
//   - Content-Type application/json, charset utf-8 if given (415);
//   - valid UTF-8 (encoding/json would silently replace it);
//   - one JSON object, nothing after it;
//   - keys exactly as the tags spell them (encoding/json would match
//     "Handle" to "handle"), no duplicates (it would keep the last), no
//     unknown keys, nesting at most maxDepth;
//   - every key in required present (null counts as absent);
//   - values of the field's type.
//
// An empty body is an empty object when dst has no required fields, so
// POSTs that take no input may be sent bare.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any, required ...string) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &payloadError{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge,
				Msg: fmt.Sprintf("request body over %d bytes", MaxBodyBytes)}
		}
		return badPayload("request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if len(required) > 0 {
			return badPayload("request body is empty; a JSON object is required")
		}
		return nil
	}
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	return decodeJSON(body, dst, required...)
}

func checkContentType(ct string) error {
	unsupported := &payloadError{Status: http.StatusUnsupportedMediaType, Code: codeInvalidPayload,
		Msg: "Content-Type must be application/json"}
	if ct == "" {
		return unsupported
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupported
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return unsupported
		}
	}
	return nil
}

// decodeJSON is decodeBody's checks on a body already read.
func decodeJSON(body []byte, dst any, required ...string) error {
	if !utf8.Valid(body) {
		return badPayload("request body is not valid UTF-8")
	}
	allowed := jsonNames(dst)
	seen, err := scanObject(body, allowed)
	if err != nil {
		return err
	}
	for _, k := range required {
		if !seen[k] {
			return badPayload("%s is required", k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badPayload("%s must be a %s", te.Field, typeName(te.Type))
		}
		return badPayload("request body is not valid JSON")
	}
	return nil
}

// scanObject checks body's token structure: one object, its keys among
// allowed and each once, depth at most maxDepth, nothing after it. It
// returns the keys whose value is not null.
func scanObject(body []byte, allowed map[string]bool) (map[string]bool, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, badPayload("request body is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, badPayload("request body must be a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badPayload("request body is not valid JSON")
		}
		key := tok.(string) // object keys are strings, or Token fails
		if !allowed[key] {
			return nil, badPayload("unknown field %q", truncate(key, 64))
		}
		if _, dup := seen[key]; dup {
			return nil, badPayload("duplicate field %q", key)
		}
		null, err := skipValue(dec, 2)
		if err != nil {
			return nil, err
		}
		seen[key] = !null
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, badPayload("request body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badPayload("unexpected data after the JSON object")
	}
	return seen, nil
}

// skipValue consumes one value at the given depth and reports whether it
// was null.
func skipValue(dec *json.Decoder, depth int) (null bool, err error) {
	invalid := badPayload("request body is not valid JSON")
	tok, err := dec.Token()
	if err != nil {
		return false, invalid
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok == nil, nil
	}
	if depth > maxDepth {
		return false, badPayload("request body is nested too deeply")
	}
	for dec.More() {
		if d == '{' {
			if _, err := dec.Token(); err != nil { // key
				return false, invalid
			}
		}
		if _, err := skipValue(dec, depth+1); err != nil {
			return false, err
		}
	}
	if _, err := dec.Token(); err != nil { // closing delimiter
		return false, invalid
	}
	return false, nil
}

// jsonNames lists the JSON names of the fields of the struct dst points
// to.
func jsonNames(dst any) map[string]bool {
	t := reflect.TypeOf(dst).Elem()
	names := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names[name] = true
		}
	}
	return names
}

func typeName(t reflect.Type) string {
	if t == nil {
		return "value of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Int32, reflect.Uint32:
		return "number"
	}
	return t.Kind().String()
}

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

package httpapi_test

import (
	"strings"
	"testing"

	"switchboard/adapters/httpapi"
)

func TestStrictDecoding(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) { c.LoginPerIP = -1; c.LoginPerHandle = -1 })
	e.fake.seedUser("alice", "correct horse", false)
	pad := func(n int) string { return strings.Repeat(" ", n) }
	valid := `{"handle":"alice","password":"correct horse","verification":"ok"}`

	for _, c := range []struct {
		name        string
		body        string
		contentType string // "" = application/json
		status      int
		code        string
	}{
		{"valid", valid, "", 200, ""},
		{"valid with charset", valid, "application/json; charset=UTF-8", 200, ""},
		{"exactly 64 KiB", valid + pad(httpapi.MaxBodyBytes-len(valid)), "", 200, ""},
		{"64 KiB + 1", valid + pad(httpapi.MaxBodyBytes-len(valid)+1), "", 413, "too_large"},
		{"huge", `{"handle":"` + strings.Repeat("a", 1<<20) + `"}`, "", 413, "too_large"},
		{"unknown field", `{"handle":"alice","password":"correct horse","verification":"ok","admin":true}`, "", 400, "invalid_payload"},
		{"case variant", `{"Handle":"alice","password":"correct horse","verification":"ok"}`, "", 400, "invalid_payload"},
		{"duplicate key", `{"handle":"bob","handle":"alice","password":"correct horse","verification":"ok"}`, "", 400, "invalid_payload"},
		{"trailing object", valid + `{}`, "", 400, "invalid_payload"},
		{"trailing garbage", valid + ` x`, "", 400, "invalid_payload"},
		{"two values", valid + "\n" + valid, "", 400, "invalid_payload"},
		{"number for string", `{"handle":42,"password":"correct horse","verification":"ok"}`, "", 400, "invalid_payload"},
		{"object for string", `{"handle":{"a":1},"password":"correct horse","verification":"ok"}`, "", 400, "invalid_payload"},
		{"array", `["alice"]`, "", 400, "invalid_payload"},
		{"string", `"alice"`, "", 400, "invalid_payload"},
		{"null", `null`, "", 400, "invalid_payload"},
		{"null required", `{"handle":null,"password":"x","verification":"ok"}`, "", 400, "invalid_payload"},
		{"truncated", `{"handle":"alice"`, "", 400, "invalid_payload"},
		{"not json", `handle=alice`, "", 400, "invalid_payload"},
		{"deep", `{"handle":[[[[[["a"]]]]]]}`, "", 400, "invalid_payload"},
		{"invalid UTF-8", "{\"handle\":\"al\xffice\",\"password\":\"correct horse\",\"verification\":\"ok\"}", "", 400, "invalid_payload"},
		{"empty", ``, "", 400, "invalid_payload"},
		{"form", `handle=alice`, "application/x-www-form-urlencoded", 415, "invalid_payload"},
		{"text", valid, "text/plain", 415, "invalid_payload"},
		{"other charset", valid, "application/json; charset=latin1", 415, "invalid_payload"},
		{"no content type", valid, "none", 415, "invalid_payload"},
	} {
		r := req{method: "POST", path: "/api/auth/login", body: c.body}
		switch c.contentType {
		case "":
		case "none":
			r.noJSON = true
		default:
			r.noJSON = true
			r.header = map[string]string{"Content-Type": c.contentType}
		}
		if c.body == "" {
			r.noJSON = true
		}
		got := e.do(r)
		if got.status != c.status || got.code() != c.code {
			t.Errorf("%s: got %d %.200s, want %d %q", c.name, got.status, got.raw, c.status, c.code)
		}
	}
	// Messages name the problem.
	r := e.post("/api/auth/login", "", `{"handle":"alice","password":7}`)
	if !strings.Contains(r.env.Error.Message, "password must be a string") {
		t.Errorf("type error message: %q", r.env.Error.Message)
	}
	r = e.post("/api/auth/login", "", `{"handle":"alice","Password":"x"}`)
	if !strings.Contains(r.env.Error.Message, `unknown field "Password"`) {
		t.Errorf("unknown field message: %q", r.env.Error.Message)
	}
}

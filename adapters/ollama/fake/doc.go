// Package fake is a local stand-in of an Ollama server, faithful to the
// parts of its HTTP API that Switchboard uses (DEPENDENCIES.md §5.2), for
// tests that have no model: package ollama's own tests, the bot
// orchestrator's tests in commands, and the browser and load tests, which
// point the server's OLLAMA_HOST at it.
//
// A [Server] is an http.Handler; serve it with net/http/httptest. It
// answers:
//
//   - POST /api/chat: NDJSON streaming by default (one chunk per token
//     with model, created_at, message{role,content}, done:false; a final
//     chunk with done:true, done_reason "stop" or "length" and the
//     metrics: total_duration, load_duration, prompt_eval_count,
//     prompt_eval_duration, eval_count, eval_duration), or one aggregated
//     object for "stream": false; num_predict in options caps the tokens
//     (done_reason "length"); empty messages answer done_reason "load"
//     ("unload" with keep_alive 0); an unknown model answers 404
//     {"error":"model '<name>' not found"}.
//   - GET /api/tags: the models present, as `ollama list` shows them.
//   - GET and HEAD /: "Ollama is running". GET /api/version.
//
// [Behaviour] makes it misbehave, for the failure paths: hang until the
// client gives up, stall after some tokens, fail with a status, send a
// line that is not JSON, cut the stream before the final chunk, report an
// error mid-stream, or simply be slow per token. Every chat request is
// recorded ([Server.Requests]), so tests can assert on the prompt a
// client assembled.
//
// Tokens are words: a token is a run of white space and the word after
// it, and a prompt's token count is [PromptTokens]. Real counts differ;
// the shape does not.
//
// It may import the standard library only: not package ollama, whose tests
// use it, nor the ollama client, so that it checks the client's wire
// format instead of sharing its types.
package fake

// Package ollama is the bots' language model: a commands.LLM that chats
// with a model served by Ollama (llama3.2:1b by default), through the
// official client's api package (github.com/ollama/ollama/api, the only
// part of that module imported).
//
// [Client.Chat] streams the reply and bounds it: the prompt's size, the
// reply's length (num_predict), the wait for the first token and for the
// whole reply; an answer without its final done chunk, an error line in
// the stream or a line that is not JSON is an error, never a reply. The
// token counts charged to the quota are Ollama's own (prompt_eval_count,
// eval_count).
//
// [Client.Run] checks at start, then periodically and soon after a
// failure, that the server answers and has the model (GET /api/tags).
// When it does not, one log line tells the operator what to run, the rest
// of Switchboard carries on (bots answer "unavailable"), and
// [Client.State] reports "degraded: <reason>" for /readyz until a check
// passes.
//
// The server's address comes from Config.Host, which the composition root
// fills from OLLAMA_HOST: this package reads no environment.
//
// Its tests run against the stand-in server of the fake sub-package; one
// test talks to a real Ollama when OLLAMA_HOST is set and the model is
// present.
//
// It may import commands (the port it implements) and the standard
// library, besides the ollama api package; no other adapter.
package ollama

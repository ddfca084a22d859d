package commands

import "context"

// The roles of an LLMMessage.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// LLMMessage is one message of a conversation handed to the model.
type LLMMessage struct {
	// Role is RoleSystem, RoleUser or RoleAssistant.
	Role string
	// Content is the message's text.
	Content string
}

// LLMReply is what the model answered.
type LLMReply struct {
	// Text is the model's raw output. It is untrusted: the orchestrator
	// cleans and caps it before posting (see CleanBotReply).
	Text string
	// PromptTokens and GeneratedTokens are the model's own counts (Ollama's
	// prompt_eval_count and eval_count), charged to the quota ledger.
	PromptTokens, GeneratedTokens int
	// Truncated reports that generation stopped at the reply length cap
	// (Ollama's done_reason "length") rather than at a natural end.
	Truncated bool
}

// LLM is the language model the bots speak through (adapters/ollama).
//
// Chat must honour ctx: when it ends, the call returns promptly and the
// model stops generating. An error means no usable reply: the
// orchestrator then releases the quota reservation, so a failed call is
// never charged.
type LLM interface {
	Chat(ctx context.Context, messages []LLMMessage) (LLMReply, error)
}

// TypingSignal shows that a user (a bot) is typing in a room, or stopped.
// It is ephemeral and never logged. The WebSocket gateway implements it;
// it clears an indicator on its own a few seconds after the last
// typing:true, so the orchestrator repeats typing:true while the model
// works (BotConfig.TypingRefresh). Typing must not block.
type TypingSignal interface {
	Typing(room, user string, typing bool)
}

// Words the views share: status names and why the server refused a frame.

export const STATUS_LABELS = { online: 'Online', busy: 'Busy', away: 'Away', invisible: 'Appear offline', offline: 'Offline' };

// reasonText says why the server refused a frame, in words.
export function reasonText(e) {
  const secs = e.retryAfterMs ? ` (try again in ${Math.ceil(e.retryAfterMs / 1000)} s)` : '';
  switch (e.code) {
    case 'rate_limited':
      return 'rate limited: you are sending too fast' + secs;
    case 'too_long':
      return 'too long';
    case 'not_member':
      return 'you are not in this conversation';
    case 'forbidden':
      return 'not allowed';
    case 'not_found':
      return 'not found';
    case 'bot_quota_exhausted':
      return "the bots' daily quota is used up";
    case 'invalid_payload':
      return e.message || 'not accepted';
    case 'internal':
      return 'the server failed';
  }
  return e.message || e.code || 'failed';
}

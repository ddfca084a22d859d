// Package decode turns a record's type and JSON payload into a domain
// event, exactly as switchboard/domain/codec.Decode does, but several times
// faster for the payloads the codec writes.
//
// Why it exists: replaying the log is bounded by JSON decoding. The
// reflection-based encoding/json takes microseconds per event, which alone
// would keep a rebuild of every projection below its target of 500,000
// events/s. Decode parses the flat objects the codec writes with a small
// hand-written scanner and gives up on anything unusual (escaped keys,
// unknown or repeated fields, null, numbers that are not plain integers,
// trailing data), handing the payload to codec.Decode instead. So the
// result, and every error, is the codec's: a fuzz test checks that the
// fast path never disagrees with it.
//
// It imports the standard library and switchboard/domain/... only.
package decode

module switchboard

go 1.26.0

require (
	github.com/ThreeDotsLabs/watermill v1.5.1
	github.com/altcha-org/altcha-lib-go v1.0.0
	github.com/coder/websocket v1.8.15
	github.com/google/uuid v1.6.0
	golang.org/x/crypto v0.58.0
)

require (
	github.com/cenkalti/backoff/v5 v5.0.3 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/lithammer/shortuuid/v3 v3.0.7 // indirect
	github.com/oklog/ulid v1.3.1 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/sony/gobreaker v1.0.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	google.golang.org/protobuf v1.36.8 // indirect
)

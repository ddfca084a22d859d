package pow_test

import (
	"context"
	"fmt"

	"switchboard/adapters/pow"
)

func Example() {
	v, err := pow.New(pow.Config{HMACKey: pow.GenerateKey()})
	if err != nil {
		panic(err)
	}
	ch, err := v.Challenge() // sent by POST /api/auth/challenge
	if err != nil {
		panic(err)
	}
	response, err := pow.Solve(ch) // what the browser computes
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Verify(context.Background(), response, "203.0.113.9"))
	fmt.Println(v.Verify(context.Background(), response, "203.0.113.9"))
	// Output:
	// <nil>
	// pow: verification failed: challenge already spent
}

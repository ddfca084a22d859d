package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"switchboard/tests/internal/e2e"
	"syscall"
	"testing"
	"time"
)

// TestDiskFull is T4 on a real full disk: the server's data directory is
// on a 4 MiB tmpfs, which a filler file then fills. Posts are refused
// with `unavailable` (retryable) and nothing is acknowledged that is not
// stored; once the filler is deleted, the refused posts, resent with the
// same ids, are stored, without a restart (the same process serves
// throughout); the history holds every acknowledged post once, in a
// contiguous sequence.
//
// It needs `mount -t tmpfs` (root). Without it the test is skipped: the
// in-process variant (filestore.Options.WrapFile injecting ENOSPC) needs
// a way to pass store options through app.Config, which it does not have.
func TestDiskFull(t *testing.T) {
	requireFaults(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s); the full-disk test needs root", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	p, _ := e2e.Start(t, e2e.Binary(t), filepath.Join(mnt, "data")) // cleaned up (killed) before the unmount
	pid := p.Cmd.Process.Pid

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alice, err := e2e.Hello(ctx, p.URL, e2e.Login(t, p.URL, "user_1", e2e.SrcAddr(100)), e2e.SrcAddr(100))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.C.CloseNow()
	bobToken := e2e.Login(t, p.URL, "user_2", e2e.SrcAddr(101))
	a, err := alice.Command(ctx, "create", map[string]any{"type": "create_room", "name": "full disk", "visibility": "public"})
	if err != nil || a["type"] != "ack" {
		t.Fatalf("create_room: %v %v", a, err)
	}
	room := a["room"].(string)
	bob, err := e2e.Hello(ctx, p.URL, bobToken, e2e.SrcAddr(101))
	if err != nil {
		t.Fatal(err)
	}
	defer bob.C.CloseNow()
	if a, err := bob.Command(ctx, "join", map[string]any{"type": "join", "room": room}); err != nil || a["type"] != "ack" {
		t.Fatalf("join: %v %v", a, err)
	}

	// Fill the file system, then give back 16 KiB: room for a few posts
	// (fewer than the 20 per 30 s one user may make in one room).
	filler := filepath.Join(mnt, "filler")
	size := fill(t, filler)
	if err := os.Truncate(filler, max(0, size-16<<10)); err != nil {
		t.Fatal(err)
	}
	t.Logf("filled the 4 MiB tmpfs: filler of %d KiB, 16 KiB left", size>>10)

	text := strings.Repeat("full disk ", 199) // 1990 bytes
	acked := map[string]uint64{}
	var refused []string // ids refused with unavailable
	var firstRefusal time.Duration
	for i := 0; i < 15 && len(refused) < 5; i++ {
		id := fmt.Sprintf("p%d", i)
		sent := time.Now()
		r, err := alice.Command(ctx, id, map[string]any{"type": "chat", "room": room, "text": id + " " + text})
		if err != nil {
			t.Fatalf("post %s: %v (server alive: %v)", id, err, p.Alive())
		}
		switch {
		case r["type"] == "ack":
			if len(refused) > 0 {
				t.Logf("%s acknowledged after a refusal (some space was freed meanwhile)", id)
			}
			acked[id] = e2e.SeqOf(r)
		case r["code"] == "unavailable":
			if len(refused) == 0 {
				firstRefusal = time.Since(sent)
			}
			refused = append(refused, id)
		default:
			t.Fatalf("post %s: unexpected answer %v", id, r)
		}
	}
	if len(refused) == 0 {
		t.Fatalf("%d posts acknowledged on a full disk and none refused", len(acked))
	}
	t.Logf("%d posts acknowledged, then refused with unavailable (the first refusal took %s)", len(acked), firstRefusal.Round(time.Microsecond))
	if firstRefusal > 500*time.Millisecond {
		t.Errorf("the first refusal took %s (want ≤ 500 ms)", firstRefusal)
	}
	// The operator hears of it: the server logs the refusals at warn.
	if !strings.Contains(p.LogText(), "the event store refuses appends") {
		t.Errorf("no warning about the full disk in the server's log:\n%s", p.LogText())
	}

	// Free the space: the refused posts, resent with the same ids, go in.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	for _, id := range refused {
		for {
			r, err := alice.Command(ctx, id, map[string]any{"type": "chat", "room": room, "text": id + " " + text})
			if err != nil {
				t.Fatalf("resend %s: %v", id, err)
			}
			if r["type"] == "ack" {
				acked[id] = e2e.SeqOf(r)
				break
			}
			if r["code"] != "unavailable" || time.Since(freed) > 10*time.Second {
				t.Fatalf("resend %s after freeing space: %v", id, r)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if id == refused[0] {
			t.Logf("writes resumed %s after the space was freed", time.Since(freed).Round(time.Millisecond))
			if d := time.Since(freed); d > 2*time.Second {
				t.Errorf("writes resumed only %s after the space was freed (want ≤ 2 s)", d)
			}
		}
	}
	if !p.Alive() || p.Cmd.Process.Pid != pid {
		t.Fatalf("the server did not survive the full disk: %s", p.LogText())
	}

	// The history: contiguous, every acknowledged post at its seq, once
	// (read right after the last ack: the API catches the read side up).
	msgs, err := e2e.History(p.URL, bobToken, room)
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[uint64]string{}
	seen := map[string]bool{}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) {
			t.Fatalf("message %d has seq %d: not contiguous", i+1, m.Seq)
		}
		id, _, _ := strings.Cut(m.Text, " ")
		if seen[id] {
			t.Errorf("%s stored twice", id)
		}
		seen[id] = true
		bySeq[m.Seq] = id
	}
	for id, seq := range acked {
		if bySeq[seq] != id {
			t.Errorf("%s was acknowledged with seq %d, which holds %q", id, seq, bySeq[seq])
		}
	}
	if len(msgs) != len(acked) {
		t.Errorf("history holds %d posts, %d were acknowledged", len(msgs), len(acked))
	}
	// Bob, a member on another socket, got every post live too.
	got := map[string]bool{}
	deadline, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	for len(got) < len(acked) {
		f, err := bob.Await(deadline, func(f map[string]any) bool { return f["type"] == "message" })
		if err != nil {
			t.Fatalf("bob received %d of %d posts: %v", len(got), len(acked), err)
		}
		m, _ := f["message"].(map[string]any)
		text, _ := m["text"].(string)
		id, _, _ := strings.Cut(text, " ")
		if got[id] {
			t.Errorf("bob got %s twice", id)
		}
		got[id] = true
	}
	t.Logf("%d posts in the history, contiguous, once each; the server (pid %d) served throughout", len(msgs), pid)
	t.Logf("server log:\n%s", p.LogText())
}

// fill writes path until the file system is full and returns its size.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := f.Write(buf)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 64<<20 {
			t.Fatal("the tmpfs does not fill up")
		}
	}
}

package stages

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// The FIPS 180-4 examples, and every length around the padding's edges,
// against crypto/sha256.
func TestSHA256(t *testing.T) {
	for in, want := range map[string]string{
		"":    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq": "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	} {
		if got := sha256Sum([]byte(in)); hex.EncodeToString(got[:]) != want {
			t.Errorf("sha256(%q) = %x, want %s", in, got, want)
		}
	}
	million := bytes.Repeat([]byte("a"), 1_000_000)
	if got := sha256Sum(million); hex.EncodeToString(got[:]) != "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" {
		t.Errorf("sha256 of a million a's = %x", got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		if got, want := sha256Sum(data), sha256.Sum256(data); got != want {
			t.Fatalf("length %d: %x, crypto/sha256 says %x", n, got, want)
		}
	}
}

func FuzzSHA256(f *testing.F) {
	f.Add([]byte("network:\n  version: 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := sha256Sum(data), sha256.Sum256(data); got != want {
			t.Fatalf("%x, crypto/sha256 says %x", got, want)
		}
	})
}

func BenchmarkSHA256(b *testing.B) {
	data := make([]byte, 64<<10)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sha256Sum(data)
	}
}

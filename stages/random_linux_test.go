package stages

import (
	"bytes"
	"context"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestEarlyRandomFillsAndVaries(t *testing.T) {
	r := &earlyRandom{}
	a, b := make([]byte, 600), make([]byte, 600) // above getrandom's 256-byte short-read size
	if n, err := r.ReadContext(context.Background(), a); err != nil || n != len(a) {
		t.Fatalf("read %d, %v", n, err)
	}
	if _, err := r.Read(b); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) || bytes.Equal(a, make([]byte, len(a))) {
		t.Error("two reads gave the same bytes, or zeros")
	}
}

// The DHCP library's transaction IDs come through the installed reader.
func TestTransactionIDsAfterUseEarlyRandom(t *testing.T) {
	useEarlyRandom()
	x, err := dhcpv4.GenerateTransactionID()
	if err != nil {
		t.Fatal(err)
	}
	y, err := dhcpv4.GenerateTransactionID()
	if err != nil {
		t.Fatal(err)
	}
	if x == y {
		t.Errorf("two transaction IDs are both %v", x)
	}
}

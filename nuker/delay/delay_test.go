package delay

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestHold draws many holds and checks their range, mean, spread and the
// share sent at once against the documented distribution.
func TestHold(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name        string
		cfg         Config
		lo, hi      time.Duration
		mean, sd    float64 // ms
		atOnce      float64 // share of zero holds
		atOnceSlack float64
	}{
		{"constant", Config{Delay: 100 * ms}, 100 * ms, 100 * ms, 100, 0, 0, 0},
		// Uniform on [100, 300] ms: sd = 200/sqrt(12).
		{"200ms±100ms", Config{Delay: 200 * ms, Jitter: 100 * ms}, 100 * ms, 300 * ms, 200, 200 / math.Sqrt(12), 0, 0},
		{"reorder 25%", Config{Delay: 200 * ms, Reorder: 25}, 0, 200 * ms, 150, math.Sqrt(0.25*0.75) * 200, 0.25, 0.02},
		// A jitter wider than the delay is cut at zero: a third of [-20, 40] ms.
		{"clamped", Config{Delay: 10 * ms, Jitter: 30 * ms}, 0, 40 * ms, 0, -1, 1.0 / 3, 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			const n = 20000
			var sum, sq float64
			zero := 0
			for range n {
				h := tt.cfg.Hold(r)
				if h < tt.lo || h > tt.hi {
					t.Fatalf("hold %v outside %v..%v", h, tt.lo, tt.hi)
				}
				if h == 0 {
					zero++
				}
				x := float64(h) / float64(ms)
				sum += x
				sq += x * x
			}
			mean := sum / n
			sd := math.Sqrt(sq/n - mean*mean)
			if tt.sd >= 0 && (math.Abs(mean-tt.mean) > 3 || math.Abs(sd-tt.sd) > 3) {
				t.Errorf("mean %.1f ms sd %.1f ms, want %.1f and %.1f", mean, sd, tt.mean, tt.sd)
			}
			if got := float64(zero) / n; math.Abs(got-tt.atOnce) > tt.atOnceSlack {
				t.Errorf("%.3f sent at once, want %.2f", got, tt.atOnce)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		cfg Config
		ok  bool
	}{
		{Config{Delay: time.Second}, true},
		{Config{Jitter: time.Second}, true},
		{Config{}, false},
		{Config{Delay: -time.Second}, false},
		{Config{Delay: time.Second, Reorder: 101}, false},
		{Config{Delay: time.Second, Reorder: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Check(); (err == nil) != tt.ok {
			t.Errorf("%+v: Check = %v, want ok %v", tt.cfg, err, tt.ok)
		}
	}
}

// TestPacketID reads the id from a packet message as the kernel lays it
// out, and ignores other messages.
func TestPacketID(t *testing.T) {
	hdr := binary.BigEndian.AppendUint32(nil, 0xabcdef01)
	hdr = append(hdr, 0x08, 0x00, 3) // IPv4, hook 3
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{{Type: 3, Data: []byte{0, 0, 0, 0}}, {Type: attrPacketHdr, Data: hdr}})
	if err != nil {
		t.Fatal(err)
	}
	data := append([]byte{unix.AF_INET, 0, 0x04, 0xb1}, attrs...)
	pkt := netlink.Message{Header: netlink.Header{Type: unix.NFNL_SUBSYS_QUEUE << 8}, Data: data}
	if id, ok := packetID(pkt); !ok || id != 0xabcdef01 {
		t.Errorf("packetID = %#x, %v", id, ok)
	}
	other := pkt
	other.Header.Type = unix.NFNL_SUBSYS_QUEUE<<8 | msgConfig
	if _, ok := packetID(other); ok {
		t.Error("a config message read as a packet")
	}
	if _, ok := packetID(netlink.Message{Header: pkt.Header, Data: data[:2]}); ok {
		t.Error("a truncated message read as a packet")
	}
}

func TestMainUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"bogus"}, "usage"},
		{[]string{"run", "--queue", "70000", "--delay", "1s"}, "not in 0..65535"},
		{[]string{"run", "--queue", "1"}, "nothing to do"},
		{[]string{"run", "--queue", "1", "--delay", "1s", "--reorder", "200"}, "not in 0..100"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := Main(tt.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("Main(%q) = %d %q, want 2 and %q", tt.args, code, errb.String(), tt.want)
		}
	}
}

func TestFromConfig(t *testing.T) {
	tests := []struct {
		config        string
		nfqueue, nete bool
	}{
		{"CONFIG_NETFILTER_NETLINK_QUEUE=y\nCONFIG_NETFILTER_XT_TARGET_NFQUEUE=m\n# CONFIG_NET_SCH_NETEM is not set\n", true, false},
		{"CONFIG_NETFILTER_NETLINK_QUEUE=y\nCONFIG_NET_SCH_NETEM=m\n", false, true},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), "config.gz")
		var b bytes.Buffer
		z := gzip.NewWriter(&b)
		z.Write([]byte(tt.config))
		z.Close()
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		s, ok := fromConfig(p)
		if !ok || s.NFQueue != tt.nfqueue || s.Netem != tt.nete {
			t.Errorf("fromConfig(%q) = %+v %v", tt.config, s, ok)
		}
	}
	if _, ok := fromConfig(filepath.Join(t.TempDir(), "none.gz")); ok {
		t.Error("a missing config read")
	}
}

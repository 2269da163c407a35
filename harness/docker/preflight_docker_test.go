package docker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/harness/docker/dockerenv"
)

// TestPreflight checks fault mechanisms in throwaway containers of the base
// image: iptables and the packet faults' mechanisms work with NET_ADMIN and fails without it or when the
// binary is broken, the clock injector skews a process, and nothing of the
// run id is left afterwards. It logs how long each check takes.
func TestPreflight(t *testing.T) {
	cli := dockerenv.NeedDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img, err := BaseImage(ctx, cli, nil, func(f string, a ...any) { t.Logf(f, a...) })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		netAdmin bool
		breakCmd string // run in the container before the check
		clock    bool
		packet   bool
		delay    bool
		wantErr  string // "" for success
	}{
		{name: "iptables with NET_ADMIN", netAdmin: true},
		{name: "iptables without NET_ADMIN", wantErr: "iptables does not work in a container of " + img + " with NET_ADMIN"},
		{name: "iptables broken", netAdmin: true, breakCmd: "ln -sf /bin/false $(command -v iptables)", wantErr: "iptables does not work"},
		{name: "clock", clock: true},
		{name: "packet with NET_ADMIN", netAdmin: true, packet: true},
		{name: "packet without NET_ADMIN", packet: true, wantErr: "tc tbf does not work"},
		{name: "packet without tc", netAdmin: true, packet: true, breakCmd: "ln -sf /bin/false $(command -v tc)", wantErr: "tc tbf does not work"},
		{name: "delay with NET_ADMIN", netAdmin: true, delay: true},
		{name: "delay without NET_ADMIN", delay: true, wantErr: "iptables NFQUEUE does not work"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runID := fmt.Sprintf("test-preflight-%d-%d", time.Now().UnixNano(), i)
			defer func() {
				if left, err := List(context.Background(), cli, runID); err != nil || len(left) > 0 {
					t.Errorf("left behind: %v %v", left, err)
					_ = Clean(context.Background(), cli, runID)
				}
			}()
			t0 := time.Now()
			p, err := StartPreflight(ctx, cli, runID, img, tt.netAdmin)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			started := time.Since(t0)
			if tt.breakCmd != "" {
				if _, err := p.node().Exec(ctx, "sh", "-c", tt.breakCmd); err != nil {
					t.Fatal(err)
				}
			}
			t1 := time.Now()
			switch {
			case tt.clock:
				err = p.CheckClock(ctx)
			case tt.packet:
				err = p.CheckPacket(ctx)
			case tt.delay:
				err = p.CheckDelay(ctx)
			default:
				err = p.CheckIptables(ctx)
			}
			t.Logf("container started in %s, check took %s: %v", started.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond), err)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("check failed: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("check error %v, want one containing %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

package targets

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline/faultline/harness/node"
	"github.com/faultline/faultline/nuker"
)

// limited is a target that supports only partitions.
type limited struct{ Target }

func (limited) Name() string     { return "limited" }
func (limited) Faults() []string { return []string{nuker.FaultPartition} }

// plain is a target with no optional capability.
type plain struct{ Target }

func (plain) Name() string { return "plain" }

// failing is a target that can fail over on purpose.
type failing struct{ Target }

func (failing) Name() string { return "failing" }
func (failing) Failover(context.Context) ([]string, string, error) {
	return nil, "", nil
}
func (failing) EndFailover(context.Context) (string, error) { return "", nil }

// changing is a target that can change its membership.
type changing struct{ Target }

func (changing) Name() string { return "changing" }
func (changing) RemoveMember(context.Context, node.Node) (string, error) {
	return "", nil
}
func (changing) AddMember(context.Context, node.Node) (string, error) { return "", nil }

// upgrading is a target whose nodes can switch releases.
type upgrading struct{ Target }

func (upgrading) Name() string           { return "upgrading" }
func (upgrading) UpgradeVersion() string { return "v2" }
func (upgrading) UpgradeSoftware() (node.Software, error) {
	return node.Software{}, nil
}
func (upgrading) SwitchVersion(context.Context, []node.Node, string, func(node.Node, string, string)) ([]string, error) {
	return nil, nil
}

// stored is a target that declares a data directory.
type stored struct{ Target }

func (stored) Name() string       { return "stored" }
func (stored) DataDirs() []string { return []string{"/var/lib/stored"} }

func TestSupportedFaults(t *testing.T) {
	etcd := plain{}
	plain := []string{"partition", "kill", "pause", "clock", "packet", "delay"}
	tests := []struct {
		name    string
		target  Target
		want    []string
		ask     []string
		wantErr string
	}{
		{"etcd: all but failover", etcd, plain, []string{"partition", "kill"}, ""},
		{"etcd refuses failover", etcd, plain, []string{"partition", "failover"}, "target plain does not support fault failover (it supports "},
		{"no data directory refuses power", etcd, plain, []string{"power"}, "target plain does not support fault power (it supports "},
		{"data directory: power", stored{}, []string{"partition", "kill", "pause", "clock", "packet", "power", "delay", "disk-full", "disk-error", "slow-disk", "corrupt"}, []string{"power"}, ""},
		{"data directory: disk faults", stored{}, []string{"partition", "kill", "pause", "clock", "packet", "power", "delay", "disk-full", "disk-error", "slow-disk", "corrupt"}, []string{"disk-full", "disk-error", "slow-disk", "corrupt"}, ""},
		{"no data directory refuses corrupt", etcd, plain, []string{"corrupt"}, "target plain does not support fault corrupt (it supports "},
		{"limited", limited{}, []string{"partition"}, []string{"kill"}, "target limited does not support fault kill (it supports partition)"},
		{"failover target", failing{}, []string{"partition", "kill", "pause", "failover", "clock", "packet", "delay"}, []string{"failover"}, ""},
		{"plain refuses member", etcd, plain, []string{"member"}, "target plain does not support fault member (it supports partition, kill, pause, clock, packet, delay)"},
		{"member target", changing{}, []string{"partition", "kill", "pause", "clock", "packet", "member", "delay"}, []string{"member", "kill"}, ""},
		{"plain refuses upgrade", etcd, plain, []string{"upgrade"}, "target plain does not support fault upgrade (it supports partition, kill, pause, clock, packet, delay)"},
		{"upgrade target", upgrading{}, []string{"partition", "kill", "pause", "clock", "packet", "delay", "upgrade"}, []string{"upgrade"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SupportedFaults(tt.target)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SupportedFaults = %v, want %v", got, tt.want)
			}
			err := CheckFaults(tt.target, tt.ask)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Errorf("CheckFaults(%v) = %v, want %q", tt.ask, err, tt.wantErr)
			}
		})
	}
}

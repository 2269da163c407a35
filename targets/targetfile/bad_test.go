package targetfile

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// base is a valid file that the bad cases below spoil one way each.
const base = `name: mystore
version: "1"
start:
  command: [mystore, "{{.Name}}"]
client:
  protocol: kv
`

func TestBadFiles(t *testing.T) {
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		want []string // the error's lines, without the "bad.yaml:" prefix
	}{
		{"unknown keys, each named with its line", base + "helth:\n  tcp: client\nbackup: 1\n", []string{
			`7: unknown key "helth": did you mean "health"?`,
			`9: unknown key "backup" (known: format, name, version, summary, options, nodes, software, start, ports, health, logs, primary, faults, workloads, client)`,
		}},
		{"unknown nested key", strings.Replace(base, "  command:", "  comand: [x]\n  cwd: /\n  command:", 1), []string{
			`4: start: unknown key "comand": did you mean "command"?`,
			`5: start: unknown key "cwd" (known: command, env, data-dir)`,
		}},
		{"wrong types", base + "nodes: {min: three}\nfaults: kill\nports: [1]\n", []string{
			`7: nodes.min: want a whole number, got "three"`,
			`8: faults: want a list of strings, got "kill"`,
			`9: ports: want a mapping, got a list`,
		}},
		{"missing start command", "name: a\nversion: \"1\"\nstart:\n  env: {A: b}\nclient: {protocol: kv}\n", []string{
			`3: start.command: missing: the argv that starts one node's server, e.g. [/usr/local/bin/mystore, --name, "{{.Name}}"]`,
		}},
		{"missing everything", "summary: nothing else\n", []string{
			`1: name: missing: the system's name, e.g. mystore`,
			`1: version: missing: the version under test`,
			`1: start: missing: how to start one node's server (start.command)`,
			`1: client: missing: the client protocol (client.protocol)`,
		}},
		{"no client port, used in templates: one problem", "name: a\nversion: \"1\"\nstart:\n  command: [a, \"{{.Ports.client}}\"]\n", []string{
			`1: client: missing: the client protocol (client.protocol)`,
		}},
		{"unknown protocol", strings.Replace(base, "protocol: kv", "protocol: raft-rpc", 1), []string{
			`6: client.protocol: unknown protocol "raft-rpc" (known: [etcd http-json kv portless])`,
		}},
		{"protocol without a port", strings.Replace(base, "protocol: kv", "protocol: portless", 1), []string{
			`5: client.port: missing: protocol portless has no default port`,
		}},
		{"unknown fault, failover, member", base + "faults: [partition, meteor, failover, member]\n", []string{
			`7: faults[1]: unknown fault "meteor" (known: partition, kill, pause, failover, clock, packet, member, power, delay, upgrade, disk-full, disk-error, slow-disk, corrupt)`,
			`7: faults[2]: failover needs a target written in Go (a nuker.Failoverer); a target file cannot offer it`,
			`7: faults[3]: member needs a target written in Go (a nuker.MemberChanger); a target file cannot offer it`,
		}},
		{"workload the protocol lacks", base + "workloads: [register, queue]\n", []string{
			`7: workloads: protocol kv does not serve "queue" (it serves register, set)`,
		}},
		{"template parse error", strings.Replace(base, `"{{.Name}}"`, `"{{.Name}"`, 1), []string{
			`4: start.command[1]:1: bad character U+007D '}'`,
		}},
		{"template execution errors, found on the sample cluster", base + "options: {mode: fast}\nlogs: [\"/x/{{.Options.speed}}\"]\nhealth:\n  command: [ping, '{{peers \"{name}:{port.raft}\"}}']\n", []string{
			`8: logs[0]:1:13: executing "logs[0]" at <.Options.speed>: map has no entry for key "speed"`,
			`10: health.command[1]:1:2: executing "health.command[1]" at <peers "{name}:{port.raft}">: error calling peers: "{name}:{port.raft}": no port named "raft" (ports: client)`,
		}},
		{"node fields in a cluster template", base + "software:\n  image: 'x:{{.Name}}'\n", []string{
			`8: software.image:1:4: executing "software.image" at <.Name>: can't evaluate field Name in type targetfile.ClusterData`,
		}},
		{"min > max", base + "nodes:\n  min: 5\n  max: 3\n", []string{
			`7: nodes: min 5 is more than max 3`,
		}},
		{"relative paths on the node", base + "software:\n  files:\n    - {src: mystore.conf, dst: etc/mystore.conf}\nlogs: [raft.log]\n", []string{
			`9: software.files[0].dst: "etc/mystore.conf": want an absolute path on the node`,
			`10: logs[0]: "raft.log": want an absolute path on the node`,
		}},
		{"packages with an image", base + "software:\n  packages: [iptables]\n  image: mystore:dev\n", []string{
			`8: software.packages: Debian packages cannot be added to your own image (software.image, line 9): install them in the image`,
		}},
		{"missing local files", base + "software:\n  local-go: [{name: mystore, dir: ./nowhere}]\n  files: [{src: nothing.bin, dst: /x}]\n", []string{
			`8: software.local-go[0].dir: TESTDATA/nowhere is not a directory`,
			`9: software.files[0].src: TESTDATA/nothing.bin is not a file`,
		}},
		{"go binary without package or main", base + "software:\n  go:\n    - name: tool\n      require: [example.com/tool]\n", []string{
			`9: software.go[0]: want package (a main package to build) or main (the source of main.go)`,
			`10: software.go[0].require[0]: "example.com/tool": want module@version`,
		}},
		{"software entries missing keys", base + "software:\n  go: [{package: example.com/x, require: [example.com/x@v1]}]\n  local-go: [{name: x}]\n  files: [{dst: /x, mode: 999}]\n", []string{
			`8: software.go[0].name: missing: the installed program's name`,
			`9: software.local-go[0].dir: missing`,
			`10: software.files[0].mode: want octal permission bits such as 0755, got "999"`,
			`10: software.files[0].src: missing`,
		}},
		{"health: two kinds, bad status and port", base + "health:\n  tcp: peer\n  http: {path: health, status: 700}\n", []string{
			`7: health: one of tcp, http and command, not tcp and http`,
			`8: health.tcp: no port named "peer" (ports: client)`,
			`9: health.http.path: "health": want a path starting with /`,
			`9: health.http.status: 700 is not an HTTP status`,
		}},
		{"bad option and choices", base + "options:\n  mode:\n    default: slow\n    choices: [fast, safe]\n", []string{
			`10: options.mode: default "slow" is not one of the choices (fast, safe)`,
		}},
		{"client option the protocol lacks", base + "  options: {speed: fast}\n", []string{
			`7: client.options.speed: protocol kv has no option "speed" (known: consistency, replication)`,
		}},
		{"repeated key", base + "version: \"2\"\n", []string{
			`7: version: repeated (first on line 2)`,
		}},
		{"bad name and duration", strings.Replace(base, "name: mystore", "name: My Store", 1) + "health: {timeout: soon}\n", []string{
			`1: name: "My Store": want lower-case letters, digits, '.', '_' or '-', starting with a letter or digit`,
			`7: health.timeout: want a positive duration such as 2s or 1m30s, got "soon"`,
		}},
		{"primary needs one way", base + "primary: {match: leader}\n", []string{
			`7: primary: want one of http and command`,
		}},
		{"aliases refused", base + "ports: {peer: &p 7001}\nlogs: [*p]\n", []string{
			`7: anchors (&p) are not supported: write the value out`,
			`8: aliases (*p) are not supported: write the value out`,
		}},
		{"YAML syntax", "name: [a,\n", []string{
			`1: YAML: did not find expected node content`,
		}},
		{"tab indentation", "name: a\nstart:\n\tcommand: [x]\n", []string{
			`3: YAML: found character that cannot start any token (a tab? YAML indents with spaces only)`,
		}},
		{"two documents", base + "---\nname: other\n", []string{
			`7: a second YAML document: a target file holds one`,
		}},
		{"wrong format", "format: 2\n" + base, []string{
			`1: format: this faultline reads format 1, not 2`,
		}},
		{"not a mapping", "- name: a\n", []string{
			`1: want a mapping of keys (name: ..., version: ...), got a list`,
		}},
		{"an empty document", "---\n# nothing\n", []string{
			`empty: a target file needs at least name, version, start and client`,
		}},
		{"empty", "# nothing\n", []string{
			`empty: a target file needs at least name, version, start and client`,
		}},
		{"too large", base + "summary: " + strings.Repeat("x", MaxSize) + "\n", []string{
			`larger than 1048576 bytes`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes("bad.yaml", []byte(tt.file), testdata, fakeProtocols())
			if err == nil {
				t.Fatal("loaded")
			}
			if !errors.Is(err, ErrInput) {
				t.Errorf("error does not wrap ErrInput: %v", err)
			}
			var got []string
			for _, l := range strings.Split(err.Error(), "\n") {
				l = strings.TrimPrefix(l, "bad.yaml:")
				got = append(got, strings.TrimPrefix(l, " "))
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, strings.ReplaceAll(w, "TESTDATA", testdata))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

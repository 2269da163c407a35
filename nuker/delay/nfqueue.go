package delay

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The part of the nfnetlink_queue protocol the delayer speaks (values from
// the kernel's uapi header linux/netfilter/nfnetlink_queue.h). Every
// message carries a 4-byte nfgenmsg (family, version, queue number in
// network order) before its attributes; attribute payloads are in network
// order.
const (
	msgPacket  = 0 // NFQNL_MSG_PACKET: kernel -> us
	msgVerdict = 1 // NFQNL_MSG_VERDICT: us -> kernel
	msgConfig  = 2 // NFQNL_MSG_CONFIG

	attrCfgCmd    = 1 // NFQA_CFG_CMD: struct {u8 cmd; u8 pad; be16 pf}
	attrCfgParams = 2 // NFQA_CFG_PARAMS: struct {be32 copy_range; u8 copy_mode}
	attrCfgMaxLen = 3 // NFQA_CFG_QUEUE_MAXLEN: be32
	attrCfgMask   = 4 // NFQA_CFG_MASK: be32, which flags FLAGS sets
	attrCfgFlags  = 5 // NFQA_CFG_FLAGS: be32

	attrPacketHdr  = 1 // NFQA_PACKET_HDR: struct {be32 id; be16 proto; u8 hook}
	attrVerdictHdr = 2 // NFQA_VERDICT_HDR: struct {be32 verdict; be32 id}

	cmdBind = 1 // NFQNL_CFG_CMD_BIND

	copyMeta = 1 // NFQNL_COPY_META: the delayer never reads payloads

	flagFailOpen = 1 // NFQA_CFG_F_FAIL_OPEN: accept, not drop, when the queue is full

	verdictAccept = 1 // NF_ACCEPT

	attrTypeMask = 0x3fff // the type bits of nla_type, without NESTED and BYTEORDER
)

// queueMaxLen is how many packets the kernel holds for the delayer; past
// it FAIL_OPEN lets packets through undelayed rather than dropping them.
const queueMaxLen = 65536

// Queue is a bound nfnetlink queue: the kernel hands it the packets an
// iptables NFQUEUE rule sends to its number and waits for a verdict on
// each.
type Queue struct {
	conn *netlink.Conn
	num  uint16
}

// OpenQueue binds queue num in this network namespace (it needs
// CAP_NET_ADMIN) with packet metadata only copied to user space.
func OpenQueue(num uint16) (*Queue, error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("nfqueue %d: netlink: %w", num, err)
	}
	q := &Queue{conn: conn, num: num}
	// A slow reader must not break the socket: lost notifications only
	// mean packets the kernel accepts on its own (FAIL_OPEN) or drops.
	_ = conn.SetOption(netlink.NoENOBUFS, true)
	_ = conn.SetReadBuffer(4 << 20)
	cfg := [][]netlink.Attribute{
		{{Type: attrCfgCmd, Data: []byte{cmdBind, 0, 0, unix.AF_INET}}},
		{{Type: attrCfgParams, Data: []byte{0, 0, 0, 0, copyMeta}}},
		{{Type: attrCfgMaxLen, Data: binary.BigEndian.AppendUint32(nil, queueMaxLen)}},
		{{Type: attrCfgFlags, Data: binary.BigEndian.AppendUint32(nil, flagFailOpen)},
			{Type: attrCfgMask, Data: binary.BigEndian.AppendUint32(nil, flagFailOpen)}},
	}
	for _, attrs := range cfg {
		if err := q.execute(msgConfig, attrs); err != nil {
			conn.Close()
			return nil, fmt.Errorf("nfqueue %d: configure (is nfnetlink_queue in the kernel, and this queue free?): %w", num, err)
		}
	}
	return q, nil
}

// Close closes the socket, which unbinds the queue (the kernel drops a
// queue whose owner's socket goes away, as when the delayer dies): packets
// it still holds are dropped, later ones pass (the rules use
// --queue-bypass). An explicit unbind would wait on a lock a blocked
// Receive holds.
func (q *Queue) Close() error {
	return q.conn.Close()
}

// message is a nfnetlink queue message of type typ with attrs.
func (q *Queue) message(typ uint16, flags netlink.HeaderFlags, attrs []netlink.Attribute) (netlink.Message, error) {
	b, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return netlink.Message{}, err
	}
	data := append([]byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, byte(q.num >> 8), byte(q.num)}, b...)
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_QUEUE<<8 | typ), Flags: flags},
		Data:   data,
	}, nil
}

// execute sends a request and waits for the kernel's acknowledgement.
func (q *Queue) execute(typ uint16, attrs []netlink.Attribute) error {
	m, err := q.message(typ, netlink.Request|netlink.Acknowledge, attrs)
	if err != nil {
		return err
	}
	_, err = q.conn.Execute(m)
	return err
}

// Receive waits for packets and returns their ids, in arrival order.
func (q *Queue) Receive() ([]uint32, error) {
	msgs, err := q.conn.Receive()
	if err != nil {
		return nil, err
	}
	var ids []uint32
	for _, m := range msgs {
		if id, ok := packetID(m); ok {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// packetID is the id of the packet m announces, if m is one.
func packetID(m netlink.Message) (uint32, bool) {
	if uint16(m.Header.Type) != unix.NFNL_SUBSYS_QUEUE<<8|msgPacket || len(m.Data) < 4 {
		return 0, false
	}
	attrs, err := netlink.UnmarshalAttributes(m.Data[4:])
	if err != nil {
		return 0, false
	}
	for _, a := range attrs {
		if a.Type&attrTypeMask == attrPacketHdr && len(a.Data) >= 4 {
			return binary.BigEndian.Uint32(a.Data), true
		}
	}
	return 0, false
}

// Accept lets packet id go on. Verdicts may come in any order: the kernel
// finds the packet by id.
func (q *Queue) Accept(id uint32) error {
	hdr := binary.BigEndian.AppendUint32(nil, verdictAccept)
	hdr = binary.BigEndian.AppendUint32(hdr, id)
	m, err := q.message(msgVerdict, netlink.Request, []netlink.Attribute{{Type: attrVerdictHdr, Data: hdr}})
	if err != nil {
		return err
	}
	_, err = q.conn.Send(m)
	return err
}

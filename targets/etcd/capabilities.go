package etcd

import (
	"github.com/faultline/faultline/nuker"
	"github.com/faultline/faultline/targets"
)

// The capabilities this target offers, checked at compile time.
var (
	_ targets.Target      = (*Target)(nil)
	_ nuker.PrimaryLister = (*Target)(nil)
	_ nuker.MemberChanger = (*Target)(nil)
	_ nuker.Upgrader      = (*Target)(nil)
)

package harness

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/faultline/faultline/models/history"
	"github.com/faultline/faultline/nuker"
)

// pollPrimaries asks the target for its primaries every period until ctx is
// done and records an info op of process Nuker, F history.PrimariesF, each
// time the answer changes (the first answer included), so the report can
// show roles over time. Failed polls record nothing.
func pollPrimaries(ctx context.Context, target nuker.PrimaryLister, rec *recorder, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last []string
	first := true
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*every)
		prim, err := target.Primaries(pctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Debug("primaries poll failed", "err", err)
		default:
			prim = slices.Clone(prim)
			if prim == nil {
				prim = []string{}
			}
			slices.Sort(prim)
			if first || !slices.Equal(prim, last) {
				first, last = false, prim
				rec.record(history.Op{Type: history.Info, Process: history.Nuker, F: history.PrimariesF, Value: prim})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

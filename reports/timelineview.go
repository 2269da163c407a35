package reports

import (
	"bytes"
	"fmt"
	"html/template"
)

// The ops timeline view: timeline.html next to history.html, drawing each
// process's ops as bars over time (as jepsen.checker.timeline does) around
// a moment, from the history view's data files. Each anomaly links to it
// at its ops' span (timeline.html#from=S&to=S&at=S&ops=I,J). It stays usable on
// any history by what it loads and draws, see the bounds below.
const (
	TimelineViewFile = "timeline.html"
	// timelineMaxBars bounds the ops drawn, so that bars stay a few pixels
	// wide at least: the window narrows around its centre until no more
	// overlap it.
	timelineMaxBars = 500
	// timelineMaxChunks bounds the data files loaded for one window (the
	// window is clipped to the time they cover).
	timelineMaxChunks = 4
)

type timelinePage struct {
	Title, Verdict     string
	Meta               historyMeta
	MaxBars, MaxChunks int
}

// writeTimelineView writes timeline.html into dir's outputs; it reads the
// data files writeHistoryView writes, described by meta.
func writeTimelineView(dir runFiles, title, verdict string, meta historyMeta) error {
	t, err := template.New("timeline.html.tmpl").ParseFS(templates, "templates/timeline.html.tmpl")
	if err != nil {
		return fmt.Errorf("parse timeline template: %w", err)
	}
	var b bytes.Buffer
	pg := timelinePage{Title: title, Verdict: verdict, Meta: meta, MaxBars: timelineMaxBars, MaxChunks: timelineMaxChunks}
	if err := t.Execute(&b, pg); err != nil {
		return fmt.Errorf("render timeline view: %w", err)
	}
	return dir.out.WriteFile(TimelineViewFile, b.Bytes())
}

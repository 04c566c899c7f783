package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Bar is one bar of a chart.
type Bar struct {
	Label string
	Value float64
	// Note is printed above the bar (defaults to the value).
	Note string
}

// Panel is a bar chart with a title and an optional reference line.
type Panel struct {
	Title string
	Unit  string
	Bars  []Bar
	// Line, when > 0, draws a dashed horizontal line labelled LineLabel.
	Line      float64
	LineLabel string
}

const (
	panelWidth  = 420
	panelHeight = 300
	plotTop     = 50
	plotBottom  = 250
	plotLeft    = 50
)

var colors = []string{"#8c8c8c", "#d9822b", "#2b7bd9", "#3aa35b", "#a33a8c"}

// WriteSVG draws the panels side by side as one SVG image.
func WriteSVG(w io.Writer, panels []Panel) error {
	var b strings.Builder
	width := 0
	for _, p := range panels {
		width += p.width()
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, panelHeight)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, panelHeight)
	x := 0
	for _, p := range panels {
		drawPanel(&b, float64(x), p)
		x += p.width()
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// width leaves about 105 pixels per bar, enough for a label like
// "dedicated-pools".
func (p Panel) width() int {
	return max(panelWidth, plotLeft+30+105*len(p.Bars))
}

func drawPanel(b *strings.Builder, x0 float64, p Panel) {
	panelWidth := float64(p.width())
	fmt.Fprintf(b, `<text x="%.1f" y="24" font-size="14" font-weight="bold">%s</text>`+"\n", x0+10, html.EscapeString(p.Title))
	top := p.Line
	for _, bar := range p.Bars {
		top = math.Max(top, bar.Value)
	}
	if top <= 0 {
		top = 1
	}
	top *= 1.15
	height := float64(plotBottom - plotTop)
	y := func(v float64) float64 { return plotBottom - v/top*height }
	// Axis and unit.
	fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", x0+plotLeft, plotBottom, x0+panelWidth-20, plotBottom)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", x0+plotLeft, plotTop, x0+plotLeft, plotBottom)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="end">%s</text>`+"\n", x0+plotLeft-4, plotTop-6, html.EscapeString(p.Unit))
	for _, tick := range []float64{0, top / 1.15 / 2, top / 1.15} {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="10">%s</text>`+"\n", x0+plotLeft-4, y(tick)+4, format(tick))
	}
	if len(p.Bars) > 0 {
		slot := float64(panelWidth-plotLeft-30) / float64(len(p.Bars))
		for i, bar := range p.Bars {
			bx := x0 + plotLeft + 10 + float64(i)*slot
			bw := slot - 16
			note := bar.Note
			if note == "" {
				note = format(bar.Value)
			}
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`+"\n",
				bx, y(bar.Value), bw, plotBottom-y(bar.Value), colors[i%len(colors)], html.EscapeString(bar.Label), note)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11">%s</text>`+"\n", bx+bw/2, y(bar.Value)-4, html.EscapeString(note))
			fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", bx+bw/2, plotBottom+16, html.EscapeString(bar.Label))
		}
	}
	if p.Line > 0 {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-dasharray="6,4"/>`+"\n", x0+plotLeft, y(p.Line), x0+panelWidth-20, y(p.Line))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#c0392b" font-size="10">%s</text>`+"\n", x0+panelWidth-20, y(p.Line)-4, html.EscapeString(p.LineLabel))
	}
}

func format(v float64) string {
	if v >= 100 || v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// Panels builds the chart of a run: throughput by profile for each
// scheduler_perf workload, and nodes used by profile against the lower
// bound.
func Panels(r Results) []Panel {
	var panels []Panel
	var workloads []string
	seen := map[string]bool{}
	for _, tp := range r.Throughput {
		if !seen[tp.Workload] {
			seen[tp.Workload] = true
			workloads = append(workloads, tp.Workload)
		}
	}
	for _, wl := range workloads {
		p := Panel{Title: "Throughput, " + wl, Unit: "pods/s"}
		for _, tp := range r.Throughput {
			if tp.Workload == wl {
				p.Bars = append(p.Bars, Bar{Label: tp.Profile, Value: tp.Average})
			}
		}
		panels = append(panels, p)
	}
	if len(r.Quality) > 0 {
		p := Panel{Title: fmt.Sprintf("Nodes used, %d nodes / %d pods", r.Quality[0].Nodes, r.Quality[0].Pods), Unit: "nodes",
			Line: float64(r.Quality[0].LowerBound), LineLabel: "lower bound"}
		for _, q := range r.Quality {
			note := fmt.Sprintf("%d", q.NodesUsed)
			if v := q.TotalViolations(); v > 0 {
				note += fmt.Sprintf(" (%d viol.)", v)
			}
			p.Bars = append(p.Bars, Bar{Label: q.Profile, Value: float64(q.NodesUsed), Note: note})
		}
		panels = append(panels, p)
	}
	return panels
}

package audit

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteViolations prints findings as a table, or a line saying there are
// none.
func WriteViolations(w io.Writer, vs []Violation) error {
	if len(vs) == 0 {
		_, err := fmt.Fprintln(w, "no violations: I1-I4 hold on every node and no node holds more than it has (F1-F3)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tNODE\tTENANTS\tMESSAGE")
	for _, v := range vs {
		node := v.Node
		if node == "" {
			node = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Rule, node, strings.Join(v.Tenants, ","), v.Message)
	}
	return tw.Flush()
}

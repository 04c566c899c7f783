// Package cyclestate reads mtscn's plugin state from the scheduler's
// CycleState with one set of error texts (docs/contributing.md, "One
// plugin, one layout"): each plugin's typed getPreFilterState calls Read.
package cyclestate

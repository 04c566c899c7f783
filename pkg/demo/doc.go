// Package demo is `mtscnctl demo`: a fixed scenario (six node kinds from
// docs/labels.md, kata-deploy's RuntimeClasses, four tenants with different
// policies and a mixed workload) run through pkg/simulate's engine, with a
// printed report.
package demo

package audit

// OvercommitOptions is the former name of ResourceOptions.
//
// Deprecated: use ResourceOptions; kept until bench/quality moves over.
type OvercommitOptions = ResourceOptions

// CheckOvercommit is the former name of CheckResources (F1-F3).
//
// Deprecated: use CheckResources; kept until bench/quality moves over.
func CheckOvercommit(snap Snapshot, opts ResourceOptions) ([]Violation, error) {
	return CheckResources(snap, opts)
}

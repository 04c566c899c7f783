// Package validation checks mtscn plugin args after defaulting. Each
// Validate function returns every problem at once, each naming its field
// path (e.g. "tenantLabelKeys[1]"), so that a malformed
// KubeSchedulerConfiguration fails scheduler start-up with a fixable message.
package validation

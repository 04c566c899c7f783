// Package scheme registers mtscn's plugin args in kube-scheduler's own
// configuration scheme. Blank-import it wherever a KubeSchedulerConfiguration
// that names mtscn plugins is decoded (the scheduler binary, tests, tools).
package scheme

// Package overhead measures what a sandbox really costs the host: for each
// running sandboxed pod on the node it reads the memory charged to the pod's
// cgroup beyond its containers' cgroups (the sandbox container, the shim,
// the VMM or the gVisor sentry and gofer, whatever the runtime puts there)
// plus the shim and VMM processes outside the pod cgroup,
// groups the samples by runtime handler and keeps a bounded window of them
// per handler (p50, p95, max, count). A Publication decides what of the
// windows the agent publishes: the sample count on the 1-2-5 series and the
// p95 only when it moved by a meaningful step (publish.go), so that steady
// sandboxes do not update the Node every round.
//
// Memory is the working set as the kubelet computes it: usage minus
// inactive file pages (cgroup v1 memory.usage_in_bytes minus
// total_inactive_file from memory.stat; cgroup v2 memory.current minus
// inactive_file). Both kubelet cgroup drivers are understood:
//
//	cgroupfs: <root>[/memory]/kubepods[/burstable|/besteffort]/pod<uid>/<container-id>
//	systemd:  <root>[/memory]/kubepods.slice[/kubepods-burstable.slice]/kubepods[-burstable]-pod<uid_>.slice/cri-containerd-<id>.scope
//
// Processes that serve the pod from outside its cgroup are added to it
// (procs.go): the parents of the pod's processes that are not in the pod
// cgroup (the containerd shim that started the sandbox) and the processes
// whose command line names the pod's sandbox or container ids (a shim per
// container, a Kata VMM or virtiofsd outside the pod cgroup) and that have
// run for 10s (the runtime CLI a shim starts for a moment, such as runsc
// events, names the ids too but is not the sandbox's cost). Each counts
// with its anonymous resident memory (RssAnon of /proc/<pid>/status,
// readable without privileges): the binary's file pages are shared by every
// shim of the node, and a VM's guest RAM in /dev/shm or a memfd is left to
// the footprint model's guest term. A VMM with anonymous guest RAM
// (Firecracker) still has the touched guest pages in its figure.
//
// Host files are read through pkg/node/hostpath (bounded, regular files
// only), so a fixture tree stands in for the host in tests; one scan of
// /proc per sampling round reads at most 65536 processes' first 4 KiB of
// command line.
//
// Caveat: with gVisor the workload's own memory lives in the sentry, which
// runs in the sandbox (pause) container's cgroup, so for gVisor the figure
// is the sandbox's whole footprint minus what its containers' cgroups are
// charged; it is the overhead only for pods whose workload is small. See
// docs/vm-footprint.md for the static model this is compared with.
package overhead

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/component-base/cli"
	"sigs.k8s.io/yaml"
)

// TestMain lets a test run this binary's main (the shipped-DaemonSet test
// runs mtscn-node inside a mount namespace).
func TestMain(m *testing.M) {
	if os.Getenv("MTSCN_NODE_RUN_MAIN") == "1" {
		os.Exit(cli.Run(newRootCommand()))
	}
	os.Exit(m.Run())
}

// imageFiles reads the Dockerfile: the files the final image gets in dir,
// by name, from a `COPY --from=<stage> /out/a /out/b <dir>/` whose stage
// builds them with `-o /out/<name>`.
func imageFiles(t *testing.T, dir string) []string {
	t.Helper()
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]bool{}
	for _, m := range regexp.MustCompile(`-o /out/(\S+)`).FindAllStringSubmatch(string(df), -1) {
		built[m[1]] = true
	}
	var files []string
	for _, line := range strings.Split(string(df), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "COPY" || !strings.HasPrefix(f[1], "--from=") || strings.TrimSuffix(f[len(f)-1], "/") != dir {
			continue
		}
		for _, src := range f[2 : len(f)-1] {
			name := filepath.Base(src)
			if !built[name] {
				t.Errorf("the Dockerfile copies %s into %s but no stage builds it (-o /out/%s)", src, dir, name)
			}
			files = append(files, name)
		}
	}
	return files
}

// TestShippedImageAndDaemonSetInstall is issue 14 item 2: the installer
// container of manifests/node-agent/install-daemonset.yaml, with the image
// the Dockerfile builds, can install. It checks that the image carries the
// gVisor artifacts where the DaemonSet's flags look for them, then runs the
// real mtscn-node with the DaemonSet's flags in a mount namespace laid out
// as the container sees the node: a read-only root, the host under /host
// read-only except the DaemonSet's read-write hostPath mounts. Install and
// uninstall must succeed there (staging happens on the host mount).
func TestShippedImageAndDaemonSetInstall(t *testing.T) {
	b, err := os.ReadFile("../../manifests/node-agent/install-daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatal(err)
	}
	spec := ds.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("want one installer container, got %d", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("the installer's root file system is not read-only; the test below assumes it is")
	}
	cmd := newServeCommand()
	if c.Args[0] != cmd.Name() && !slices.Contains(cmd.Aliases, c.Args[0]) {
		t.Fatalf("the DaemonSet runs %q, not serve", c.Args[0])
	}
	if err := cmd.ParseFlags(c.Args[1:]); err != nil {
		t.Fatalf("the DaemonSet's flags: %v", err)
	}
	flag := func(n string) string { return cmd.Flags().Lookup(n).Value.String() }
	gvisorArtifacts := flag("gvisor-artifacts")
	if !strings.Contains(flag("sandboxes"), "gvisor") {
		t.Fatalf("the DaemonSet installs %s; the image ships gVisor", flag("sandboxes"))
	}
	files := imageFiles(t, strings.TrimSuffix(gvisorArtifacts, "/"))
	for _, want := range []string{"runsc", "containerd-shim-runsc-v1"} {
		if !slices.Contains(files, want) {
			t.Errorf("the image has no %s in %s (--gvisor-artifacts): it has %v", want, gvisorArtifacts, files)
		}
	}

	if os.Geteuid() != 0 {
		t.Skip("the container view needs mount namespaces (root)")
	}
	hostRoot := flag("host-root")
	tmp := t.TempDir()
	host, ctr := filepath.Join(tmp, "node"), filepath.Join(tmp, "container")
	copyFixture(t, "../../pkg/node/install/testdata/hosts/debian-1.6", host)
	orig, _ := os.ReadFile(filepath.Join(host, "etc/containerd/config.toml"))
	volumes := map[string]*v1.HostPathVolumeSource{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v.HostPath
	}
	// The container: a read-only root with the host at hostRoot, the
	// image's gVisor artifacts (test stand-ins), the DaemonSet's mounts.
	script := []string{"set -e", `mount --bind "$C" "$C"`}
	var mounts []string
	for _, m := range c.VolumeMounts {
		hp := volumes[m.Name]
		if hp == nil {
			t.Fatalf("volumeMount %s has no hostPath volume", m.Name)
		}
		if err := os.MkdirAll(filepath.Join(host, hp.Path), 0o755); err != nil { // DirectoryOrCreate
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(ctr, m.MountPath), 0o755); err != nil {
			t.Fatal(err)
		}
		ro := ""
		if m.ReadOnly {
			ro = ` && mount -o remount,bind,ro "$C` + m.MountPath + `"`
		}
		mounts = append(mounts, `mount --bind "$H`+hp.Path+`" "$C`+m.MountPath+`"`+ro)
	}
	artifacts, _ := filepath.Abs("../../pkg/node/install/testdata/artifacts-gvisor")
	if err := os.MkdirAll(filepath.Join(ctr, gvisorArtifacts), 0o755); err != nil {
		t.Fatal(err)
	}
	script = append(script, `mount --bind "$A" "$C`+gvisorArtifacts+`"`, `mount -o remount,bind,ro "$C"`)
	script = append(script, mounts...)
	script = append(script, `shift 3`, `exec "$0" "$@"`)
	run := func(verb string, extra ...string) {
		t.Helper()
		args := []string{verb}
		for _, a := range c.Args[1:] {
			if strings.HasPrefix(a, "--listen-address") {
				continue
			}
			a = strings.Replace(a, "--host-root="+hostRoot, "--host-root="+filepath.Join(ctr, hostRoot), 1)
			args = append(args, a)
		}
		args = append(args, "--gvisor-artifacts="+filepath.Join(ctr, gvisorArtifacts), "--no-node", "--restart-mode=none", "--verify=none")
		args = append(args, extra...)
		self, _ := os.Executable()
		sh := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", strings.Join(script, "\n"), self, ctr, host, artifacts}, args...)...)
		sh.Env = append(os.Environ(), "MTSCN_NODE_RUN_MAIN=1", "C="+ctr, "H="+host, "A="+artifacts)
		var out bytes.Buffer
		sh.Stdout, sh.Stderr = &out, &out
		if err := sh.Run(); err != nil {
			t.Fatalf("mtscn-node %s in the container view: %v\n%s", verb, err, out.String())
		}
	}
	run("install")
	for _, f := range []string{"opt/mtscn/gvisor/runsc", "opt/mtscn/gvisor/containerd-shim-runsc-v1", "opt/mtscn/gvisor/runsc.toml"} {
		if _, err := os.Stat(filepath.Join(host, f)); err != nil {
			t.Errorf("after install: %v", err)
		}
	}
	run("uninstall", "--force")
	if got, _ := os.ReadFile(filepath.Join(host, "etc/containerd/config.toml")); !bytes.Equal(got, orig) {
		t.Errorf("config.toml not restored byte for byte")
	}
}

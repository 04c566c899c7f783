package agent

import (
	"errors"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/mtscn/mtscn/pkg/node/discover"
)

// Publish modes.
const (
	// PublishNodeFeature writes an NFD NodeFeature object (needs NFD).
	PublishNodeFeature = "nodefeature"
	// PublishNodeLabels patches the agent's own Node's labels and its
	// status capacity (extended resources), as nfd-master would (no NFD).
	PublishNodeLabels = "node-labels"
	// PublishNone only discovers (and serves metrics).
	PublishNone = "none"
)

// Defaults.
const (
	DefaultNamespace     = "mtscn-system"
	DefaultInterval      = time.Minute
	DefaultListenAddress = ":8081"
	// DefaultConfigFile is read when it exists and --config is not given.
	DefaultConfigFile = "/etc/mtscn/node.yaml"
)

// Config is the agent's configuration. Precedence, as in nfd-worker:
// DefaultConfig < config file < command-line flags.
type Config struct {
	// NodeName is this node (env NODE_NAME in the DaemonSet).
	NodeName string `json:"nodeName,omitempty"`
	// Namespace holds the NodeFeature (env POD_NAMESPACE).
	Namespace string `json:"namespace,omitempty"`
	// PodName and PodUID name the agent's Pod, the owner of the
	// NodeFeature (env POD_NAME, POD_UID); empty outside a Pod.
	PodName string `json:"podName,omitempty"`
	PodUID  string `json:"podUID,omitempty"`
	// Publish is nodefeature, node-labels or none.
	Publish string `json:"publish,omitempty"`
	// Interval between discoveries; 0 discovers once and keeps serving.
	Interval metav1.Duration `json:"interval,omitempty"`
	// ListenAddress serves /healthz and /metrics; empty disables.
	ListenAddress string `json:"listenAddress,omitempty"`
	// Kubeconfig is a kubeconfig file; empty means in-cluster.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// HostRoot, ContainerdConfig, CRISocket, Sources and MaxSandboxes configure
	// discovery (see discover.Options).
	HostRoot         string   `json:"hostRoot,omitempty"`
	ContainerdConfig string   `json:"containerdConfig,omitempty"`
	CRISocket        string   `json:"criSocket,omitempty"`
	Sources          []string `json:"sources,omitempty"`
	MaxSandboxes     int64    `json:"maxSandboxes,omitempty"`
	// WithdrawnNote is the installer's withdrawal note as a host path
	// (pkg/node/withdrawal; "none": not read). Handlers it names are not
	// reported, and a change of it starts a round within seconds.
	WithdrawnNote string `json:"withdrawnNote,omitempty"`
	// Oneshot discovers and publishes once, then exits.
	Oneshot bool `json:"oneshot,omitempty"`
}

// DefaultConfig returns the defaults, with node and pod identity from the
// environment (NODE_NAME, POD_NAMESPACE, POD_NAME, POD_UID).
func DefaultConfig() Config {
	c := Config{
		NodeName:         os.Getenv("NODE_NAME"),
		Namespace:        os.Getenv("POD_NAMESPACE"),
		PodName:          os.Getenv("POD_NAME"),
		PodUID:           os.Getenv("POD_UID"),
		Publish:          PublishNodeFeature,
		Interval:         metav1.Duration{Duration: DefaultInterval},
		ListenAddress:    DefaultListenAddress,
		HostRoot:         "/",
		ContainerdConfig: discover.DefaultContainerdConfig,
		CRISocket:        discover.DefaultCRISocket,
		MaxSandboxes:     discover.DefaultMaxSandboxes,
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	return c
}

// LoadConfigFile overlays the YAML file at path on c: keys present in the
// file replace c's values, others stay. Unknown keys are an error.
func LoadConfigFile(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	if err := yaml.UnmarshalStrict(b, c); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Validate returns every invalid field, each named as in the config file
// with the fix.
func (c *Config) Validate() error {
	var errs []error
	if c.Publish != PublishNone {
		if c.NodeName == "" {
			errs = append(errs, errors.New("nodeName: required to publish; set --node-name or the NODE_NAME environment variable (fieldRef spec.nodeName)"))
		} else if msgs := validation.IsDNS1123Subdomain(c.NodeName); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("nodeName %q: not a node name: %v", c.NodeName, msgs))
		}
	}
	switch c.Publish {
	case PublishNodeFeature:
		if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("namespace %q: not a namespace name: %v; set --namespace or POD_NAMESPACE", c.Namespace, msgs))
		}
	case PublishNodeLabels, PublishNone:
	default:
		errs = append(errs, fmt.Errorf("publish %q: valid values are %s, %s and %s", c.Publish, PublishNodeFeature, PublishNodeLabels, PublishNone))
	}
	if c.Interval.Duration < 0 {
		errs = append(errs, fmt.Errorf("interval %s: must not be negative (0 discovers once)", c.Interval.Duration))
	}
	if c.MaxSandboxes < 0 {
		errs = append(errs, fmt.Errorf("maxSandboxes %d: must not be negative (0 uses the default %d)", c.MaxSandboxes, discover.DefaultMaxSandboxes))
	}
	if err := discover.ValidateSources(c.Sources); err != nil {
		errs = append(errs, fmt.Errorf("sources: %w", err))
	}
	if (c.PodName == "") != (c.PodUID == "") {
		errs = append(errs, errors.New("podName/podUID: set both (POD_NAME and POD_UID from the downward API) or neither"))
	}
	return errors.Join(errs...)
}

// discoverOptions turns the configuration into discovery options.
func (c *Config) discoverOptions() discover.Options {
	return discover.Options{
		HostRoot:         c.HostRoot,
		ContainerdConfig: c.ContainerdConfig,
		CRISocket:        c.CRISocket,
		Sources:          c.Sources,
		MaxSandboxes:     c.MaxSandboxes,
		WithdrawnNote:    c.WithdrawnNote,
	}
}

// NodeFeatureName is the name of the NodeFeature the agent writes for node.
func NodeFeatureName(node string) string { return "mtscn-node-" + node }

package auditcmd

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeFlags are kubectl's connection flags (--kubeconfig, --context,
// --cluster, --user, --server, --token, --as, ...), bound with client-go's
// clientcmd the way kubectl binds them, so that `kubectl mtscn audit
// --context prod` (mtscnctl installed as the kubectl plugin kubectl-mtscn
// by `make install`) reaches the cluster `kubectl --context prod` does.
// There is no --namespace: audit reads every namespace.
type kubeFlags struct {
	rules     *clientcmd.ClientConfigLoadingRules
	overrides clientcmd.ConfigOverrides
}

func addKubeFlags(fs *pflag.FlagSet) *kubeFlags {
	k := &kubeFlags{rules: clientcmd.NewDefaultClientConfigLoadingRules()}
	fs.StringVar(&k.rules.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "",
		"kubeconfig of the cluster to audit (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
	names := clientcmd.RecommendedConfigOverrideFlags("")
	names.ContextOverrideFlags.Namespace = clientcmd.FlagInfo{}
	clientcmd.BindOverrideFlags(&k.overrides, fs, names)
	return k
}

// restConfig is the client configuration the flags select.
func (k *kubeFlags) restConfig() (*rest.Config, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(k.rules, &k.overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cfg, nil
}

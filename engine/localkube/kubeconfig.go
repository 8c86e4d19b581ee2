package localkube

import (
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfigs writes the admin kubeconfig (the one users and the scheduler get) and one per
// component identity, all referring to the PKI by absolute path, and returns the admin client
// configuration with the credentials embedded.
func writeKubeconfigs(dirs layout, cr credentials, apiserverPort int) (*rest.Config, error) {
	server := "https://" + loopback(apiserverPort)
	for _, id := range []struct{ identity, path string }{
		{"admin", dirs.adminKubeconfig},
		{"admin", dirs.kubeconfig("admin")},
		{"kcm", dirs.kubeconfig("kcm")},
		{"kwok", dirs.kubeconfig("kwok")},
	} {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: cr.path("ca.crt")}
		cfg.AuthInfos[id.identity] = &clientcmdapi.AuthInfo{
			ClientCertificate: cr.path(id.identity + ".crt"),
			ClientKey:         cr.path(id.identity + ".key"),
		}
		cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: id.identity}
		cfg.CurrentContext = "local"
		if err := clientcmd.WriteToFile(*cfg, id.path); err != nil {
			return nil, fmt.Errorf("write %s kubeconfig: %w", id.identity, err)
		}
	}

	caData, err := os.ReadFile(cr.path("ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("admin client config: %w", err)
	}
	certData, err := os.ReadFile(cr.path("admin.crt"))
	if err != nil {
		return nil, fmt.Errorf("admin client config: %w", err)
	}
	keyData, err := os.ReadFile(cr.path("admin.key"))
	if err != nil {
		return nil, fmt.Errorf("admin client config: %w", err)
	}
	return &rest.Config{
		Host:            server,
		TLSClientConfig: rest.TLSClientConfig{CAData: caData, CertData: certData, KeyData: keyData},
		QPS:             50,
		Burst:           100,
	}, nil
}

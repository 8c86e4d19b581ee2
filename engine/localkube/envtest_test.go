package localkube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestEnvtestAssets proves that controller-runtime's envtest runs on our binaries through
// EnvtestAssets, for API-only tests that want envtest's own set-up.
func TestEnvtestAssets(t *testing.T) {
	assets, err := EnvtestAssets(testBinDir(t))
	if err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("envtest with %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "from-envtest", Namespace: "default"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if again, err := EnvtestAssets(testBinDir(t)); err != nil || again != assets {
		t.Errorf("second EnvtestAssets = %q, %v; want the same directory", again, err)
	}
}

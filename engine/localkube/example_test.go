package localkube_test

import (
	"context"
	"fmt"
	"log"
	"os/signal"
	"syscall"

	"slipway.dev/slipway/engine/localkube"
)

// Example shows the shape of `slipway dev`: resume the cluster in a directory, run until
// interrupted or until a component dies, then stop in order.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	bin, err := localkube.BinDir()
	if err != nil {
		log.Fatal(err)
	}
	c, err := localkube.Start(ctx, localkube.Options{
		BinDir: bin, StateDir: ".slipway/cluster", Components: localkube.Full, APIServerPort: 16443,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Stop()
	fmt.Println("export KUBECONFIG=" + c.KubeconfigPath())
	select {
	case <-ctx.Done():
	case <-c.Done():
		log.Print(c.Err())
	}
}

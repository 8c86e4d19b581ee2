package gobuild

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// layerMediaType returns the layer media type that matches an image's manifest media type:
// an OCI manifest must list OCI layers, a Docker manifest Docker layers.
func layerMediaType(img v1.Image) (types.MediaType, error) {
	mt, err := img.MediaType()
	if err != nil {
		return "", fmt.Errorf("read manifest media type: %w", err)
	}
	if mt == types.OCIManifestSchema1 {
		return types.OCILayer, nil
	}
	return types.DockerLayer, nil
}

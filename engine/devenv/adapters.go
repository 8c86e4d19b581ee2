package devenv

import (
	"slipway.dev/slipway/engine/appchart"
)

// renderer renders Applications with the app chart.
type renderer = appchart.Renderer

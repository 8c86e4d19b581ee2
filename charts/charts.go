// Package charts embeds Slipway's Helm charts, so the renderer needs no files on disk.
package charts

import "embed"

// App is the application chart; its files sit under the "app" directory of this file system.
//
//go:embed all:app
var App embed.FS

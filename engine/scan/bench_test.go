package scan

import (
	"path/filepath"
	"testing"
)

// BenchmarkScan measures a scan with a fresh layer cache, with a warm one, and the SBOM
// written from the report on top of a warm scan.
func BenchmarkScan(b *testing.B) {
	f := setup(b)
	b.Run("cold", func(b *testing.B) {
		s := scanner(b, f)
		for b.Loop() {
			if _, err := s.Scan(b.Context(), f.vulnerable, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		s := scanner(b, f, WithCacheDir(b.TempDir()))
		if _, err := s.Scan(b.Context(), f.vulnerable, ""); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Scan(b.Context(), f.vulnerable, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm+sbom", func(b *testing.B) {
		s := scanner(b, f, WithCacheDir(b.TempDir()))
		sbom := filepath.Join(b.TempDir(), "sbom.cdx.json")
		for b.Loop() {
			if _, err := s.Scan(b.Context(), f.vulnerable, sbom); err != nil {
				b.Fatal(err)
			}
		}
	})
}

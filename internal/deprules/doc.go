// Package deprules holds the test that enforces Slipway's dependency rules: each heavy
// dependency lives in exactly one package, leaf packages import only the standard library, and
// packages stay free of what they must not pull in. It has no non-test code.
package deprules

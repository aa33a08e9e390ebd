// Package archtest holds no code: its test checks the package boundaries
// the architecture promises, by listing each package's dependencies.
package archtest

// Package renderworker renders bundles in separate processes, so that a
// render that never ends or grows without bound can be killed without
// harming the hub: a Pool keeps N long-lived `flotilla render-worker`
// processes, sends each one render at a time over a framed protocol on
// stdin/stdout, and kills and replaces a worker whose render passes its
// time limit or whose memory passes its ceiling. Serve is the worker's
// side. Both sides render with render.RenderEffective, so a bundle renders
// the same objects in a worker as in process.
package renderworker

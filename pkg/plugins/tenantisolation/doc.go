// Package tenantisolation implements the TenantIsolation scheduler plugin: shared-kernel pods never share a node with another tenant; sandboxed pods may (DESIGN.md section 3, invariants I1-I4).
package tenantisolation

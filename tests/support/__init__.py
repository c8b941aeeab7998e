"""What tests/ and loadtests/ share: real servers (servers), seeding SQL (seeding),
joining over HTTP (joining) and WebSocket clients (phones). loadtests/ builds on this
package; tests/ imports loadtests/ only where the drills themselves are under test
(test_drills.py, test_testbed.py)."""

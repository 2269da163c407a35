// Package sequential checks histories for sequential consistency.
//
// A history is sequentially consistent (Lamport, "How to Make a
// Multiprocessor Computer That Correctly Executes Multiprocess Programs",
// IEEE Transactions on Computers C-28(9), 1979) when its ops can be put in
// one total order that is a legal sequential run of the object and keeps
// each process's own order. Unlike linearizability (Herlihy & Wing 1990)
// the order need not respect real time: a read on a follower that returns
// a value already overwritten elsewhere is sequentially consistent, as long
// as no process sees the object go backwards. Every linearizable history is
// sequentially consistent; not conversely.
//
// The objects are package linear's specs (register, cas-register, kv,
// mutex, fifo-queue, set-linearizable, counter-linearizable), read from the
// history exactly as the linearizability checker reads them, so the op
// shapes are documented there.
//
// # Sessions
//
// Each process id is its own session: program order is the order of a
// process's invocations. Faultline's workers, like Jepsen's, continue as a
// new process id after an info op, so one worker's ops before and after an
// indeterminate op are two sessions whose relative order is not enforced.
// That is weaker than the worker's real order, never stronger, so it can
// hide an anomaly but never invent one.
//
// # Outcomes
//
// Fail ops did not happen and are left out. An info op, or one that never
// completed, may be left out of the order or placed anywhere after its
// process's earlier ops (an op whose outcome was never reported may take
// effect after its process's later ops too). Reads of unknown outcome
// constrain nothing and are dropped.
//
// # Keys
//
// Sequential consistency is not local, unlike linearizability (Herlihy &
// Wing 1990 show both): every key of a store can be sequentially
// consistent on its own while the store as a whole is not (two processes
// that each write one key and then read the other's old value). By default each key is checked on its own, which
// is necessary for, not equivalent to, the store's sequential consistency:
// an invalid key is a real violation, a valid verdict means every key is
// sequentially consistent by itself (Result.Properties "scope": "per-key").
// Checker.Whole checks all keys together as one object; its search is
// exponential in more than the per-key one, so use it on small histories.
//
// # Search
//
// Deciding sequential consistency is NP-complete (Gibbons & Korach 1997),
// and porcupine checks only linearizability, so this package searches
// itself: depth first over the vector of per-session positions plus the
// object's state, trying sessions in the order their next ops completed
// (so a linearizable history is found almost at once), remembering the
// (positions, state) pairs from which no order exists. Read-only ops are
// taken as soon as they are possible, and for registers a branch ends at
// once when it overwrites a value that some remaining op still needs and
// no remaining op can write again. A check that runs out of time or is
// cancelled is unknown.
package sequential

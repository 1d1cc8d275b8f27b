/* The benchmark's lock model in Promela: N processes, pc 0..5, one shared lock.
 * One atomic statement per step, no init process (active [N]), so that the state count
 * matches the other tools: 187,500 states for N = 7. `in_cs` counts the processes at pc 1;
 * it is a function of `locked`, so it adds no states, and the assertion is the invariant.
 * Build: spin -o3 -DN=7 -a lock.pml (-o3 keeps SPIN from merging the local steps).
 */
#ifndef N
#define N 7
#endif

bool locked = false;
byte in_cs = 0;

active [N] proctype P()
{
  do
  :: atomic { !locked -> locked = true; in_cs++; assert(in_cs <= 1) };  /* 0 -> 1 */
     atomic { locked = false; in_cs-- };                                /* 1 -> 2 */
pc2: skip;                                                              /* 2 -> 3 */
pc3: skip;                                                              /* 3 -> 4 */
pc4: skip;                                                              /* 4 -> 5 */
pc5: skip                                                               /* 5 -> 0 */
  od
}

import { executionAsyncResource } from 'node:async_hooks';

/**
 * Keeps one of Node's own `process.nextTick` queue entries alive for the life of the process.
 *
 * Why: node:internal/process/task_queues builds each entry as an object literal with symbol keys,
 * whose define sites V8 caches on the maps (hidden classes) the literal passes through. Those
 * caches hold the maps weakly: when a full collection runs while no entry is alive (an idle
 * moment at start-up, as here), the maps die, the next entry is built on new ones, and V8 marks
 * the sites megamorphic for good — every nextTick from then on (several per proxied request, in
 * Node's streams) defines its fields through the runtime. Under perf that was 4 µs per gateway
 * request, and none in a process that never hit it. One live entry keeps the maps, and so the
 * cached sites, valid. It must run before anything else the program loads.
 */
const kept: object[] = [];
process.nextTick(() => {
  kept.push(executionAsyncResource());
});

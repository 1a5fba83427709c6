import { describe, expect, it } from 'vitest';
import { moved, stoppedNames } from './classifications';

describe('moving a level', () => {
	it('swaps with its neighbour and stays put at either end', () => {
		expect(moved(['a', 'b', 'c'], 'b', 1)).toEqual(['a', 'c', 'b']);
		expect(moved(['a', 'b', 'c'], 'b', -1)).toEqual(['b', 'a', 'c']);
		expect(moved(['a', 'b', 'c'], 'a', -1)).toEqual(['a', 'b', 'c']);
		expect(moved(['a', 'b', 'c'], 'c', 1)).toEqual(['a', 'b', 'c']);
		expect(moved(['a', 'b'], 'x', 1)).toEqual(['a', 'b']);
	});
});

describe('what a change stopped', () => {
	it('names assistants, then collections', () => {
		expect(stoppedNames({ stopped_assistants: [{ id: '1', name: 'Hjälpreda', space_id: 's' }],
			stopped_collections: [{ id: '2', name: 'Riktlinjer', space_id: 's', kind: 'collection' }] }))
			.toEqual(['Hjälpreda', 'Riktlinjer']);
		expect(stoppedNames({ stopped_assistants: [] })).toEqual([]);
	});
});

import { describe, expect, it } from 'vitest';
import { completeGroupMappings, formatMappings, parseMappings } from './sso';

describe('sso mappings', () => {
	it('sends only the group rows an admin completed, values trimmed', () => {
		expect(
			completeGroupMappings([
				{ value: ' socialtjanst ', group_id: 'g1' },
				{ value: '', group_id: 'g2' },
				{ value: 'kultur', group_id: '' }
			])
		).toEqual([{ value: 'socialtjanst', group_id: 'g1' }]);
	});

	it('reads role lines back as they are shown', () => {
		const mappings = parseMappings('eneo-admins = admin\n\nstaff = user');
		expect(mappings).toEqual([
			{ value: 'eneo-admins', role: 'admin' },
			{ value: 'staff', role: 'user' }
		]);
		expect(formatMappings(mappings)).toBe('eneo-admins = admin\nstaff = user');
	});
});

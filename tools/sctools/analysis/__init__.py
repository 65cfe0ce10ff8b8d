"""What a playbook's outcome depends on: a static analysis of the repository.

For one playbook it collects, by reading YAML (nothing is executed):

- the playbook, the playbooks it imports and the task or vars files its
  plays name;
- every role it applies (`roles:`, include_role, import_role, in the
  playbook and, recursively, in the roles' tasks and handlers) and the
  roles those depend on (meta/main.yml `dependencies:`);
- the inventory groups and hosts its plays target, evaluated by Ansible's
  own InventoryManager over the production inventory named in ansible.cfg,
  so that their group_vars and host_vars count;
- the group_vars/host_vars of other hosts when the code reads them
  (`hostvars[...]['name']`, `extract(hostvars, 'name')`): the files that
  define such a variable count too;
- repository paths the code names: `{{ playbook_dir }}/...`,
  `{{ role_path }}/...`, `{{ inventory_dir }}/...`, lookups and includes of
  literal paths that leave the role, and words of commands (command, shell,
  pip...) that are paths of the checkout, where run-all starts Ansible.

Where the analysis cannot know, it over-includes and says so in `notes`:
a templated role name means every role, a templated host pattern every
host, hostvars read in a way it cannot parse (or delegate_to another host,
group_by, add_host) the variables of every group and host, another use of
playbook_dir/role_path/inventory_dir every file. A templated path is
assumed to stay inside the role's or the playbook's own search path (both
count already); a literal path that leaves it is followed.

One module per thing it knows, each layer building on the one before:

- loader: ansible.cfg, YAML as Ansible reads it, repository-relative paths;
- inventory: hosts and groups, as Ansible's InventoryManager evaluates them;
- variables: group_vars/host_vars, hostvars and the magic path variables;
- tasks: task lists, the table of actions (ACTION_HANDLERS), includes, roles;
- playbooks: plays, imported playbooks, molecule scenarios (Analyzer);
- result: what the walk collects (Deps) and the plain data it ends in;
- summary: per scheduled playbook and per molecule scenario, the paths it
  depends on (Dependencies), which sctools.matchers turns into regexes.

The package itself imports nothing: sctools.molecule_all uses the analysis
and summary uses molecule_all, so each caller imports the module it needs.
"""

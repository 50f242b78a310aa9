#!/usr/bin/env python3
"""Prepares a moto server for the secretfs tests; prints the resulting identifiers as JSON.

The server runs with INITIAL_NO_AUTH_ACTION_COUNT=4: the first four IAM calls below create an
admin user and its access key without authentication; everything after them, including every
request secretfs sends, must carry a valid SigV4 signature by that key.
"""
import json
import sys

import boto3

endpoint = sys.argv[1]
bootstrap = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam = boto3.client("iam", **bootstrap)
iam.create_user(UserName="secretfs-admin")
key = iam.create_access_key(UserName="secretfs-admin")["AccessKey"]
policy = iam.create_policy(PolicyName="everything", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]["Arn"]
iam.attach_user_policy(UserName="secretfs-admin", PolicyArn=policy)

admin = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
iam = boto3.client("iam", **admin)
kms = boto3.client("kms", **admin)
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
          "Condition": {"StringEquals": {"sts:ExternalId": "secretfs-external-id"}}}]}
role = iam.create_role(RoleName="secretfs-kms", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
iam.attach_role_policy(RoleName="secretfs-kms", PolicyArn=policy)
key_arn = kms.create_key(Description="secretfs test key")["KeyMetadata"]["Arn"]
disabled = kms.create_key(Description="secretfs disabled key")["KeyMetadata"]
disabled_arn = disabled["Arn"]
kms.disable_key(KeyId=disabled["KeyId"])
print(json.dumps({"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"],
                  "key_arn": key_arn, "disabled_key_arn": disabled_arn, "role_arn": role}))

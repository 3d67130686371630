"""AWS edge: EKS connection with an STS-presigned token, S3 model-repository sync, Secrets Manager.

boto3 finds credentials, region and endpoints the standard way (environment, profile, instance role;
`AWS_ENDPOINT_URL_<SERVICE>` for non-AWS endpoints). Nothing here prints or logs a credential or a token.
"""
